"The `mlproj` command end to end in real subprocesses: results on stdout, logs on stderr, exit codes."

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from conftest import run_cli

from mlproj.core.io import default_mode
from mlproj.data.sources import make_demo_data

FAST = ["--cv-folds", "3", "--n-bootstrap", "50", "--quiet"]


@pytest.fixture(scope="module")
def demo_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("data") / "customers.csv"
    make_demo_data(n_rows=300, random_state=0).to_csv(path, index=False)
    return path


def test_help_lists_commands(tmp_path: Path) -> None:
    proc = run_cli("--help", cwd=tmp_path)
    assert proc.returncode == 0
    for cmd in ["train", "evaluate", "report"]:
        assert cmd in proc.stdout
    for sub in ["train", "evaluate", "report"]:
        sub_help = run_cli(sub, "--help", cwd=tmp_path)
        assert sub_help.returncode == 0 and "--quiet" in sub_help.stdout, sub_help.stderr


def test_help_imports_no_heavy_library(tmp_path: Path) -> None:
    "`mlproj --help` and `mlproj train --help` import only mlproj's `core` and `cli`, never pandas, scikit-learn or MLflow."
    for args in (["--help"], ["train", "--help"], ["models", "promote", "--help"]):
        proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "mlproj", *args], cwd=tmp_path,
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0 and "usage: mlproj" in proc.stdout, proc.stderr[-2000:]
        imported = {line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines() if line.startswith("import time:")}
        assert "mlproj.cli.main" in imported, sorted(imported)  # the check sees the command's own imports
        heavy = {m for m in imported if m.split(".")[0] in {"numpy", "pandas", "sklearn", "scipy", "mlflow", "fastapi"}}
        assert not heavy, f"mlproj {' '.join(args)} imported {sorted(heavy)}"
        layers = {m.split(".")[1] for m in imported if m.startswith("mlproj.") and m.count(".") >= 1}
        assert layers <= {"core", "cli"}, f"mlproj {' '.join(args)} imported layers {sorted(layers)}"


def test_train_json_then_evaluate(tmp_path: Path, demo_csv: Path) -> None:
    proc = run_cli("train", "--data", str(demo_csv), "--target", "churned", "--model", "linear", "--json",
                   "--set", "C=0.5", *FAST[:-1], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)  # stdout holds the JSON only; logs went to stderr
    assert "task: classification (inferred" in proc.stderr
    assert "dropping column(s)" in proc.stderr and "'customer_id' (ID-like)" in proc.stderr
    artifact = Path(summary["artifact"])
    assert artifact.parent == tmp_path / "models" and (artifact / "model.joblib").is_file()
    assert (tmp_path / "models" / "latest").resolve() == artifact.resolve()
    assert summary["params"] == {"C": 0.5} and summary["task"] == "classification"
    assert 0.5 < summary["metrics"]["roc_auc"] <= 1 and summary["baseline_metrics"]["roc_auc"] == 0.5
    meta = json.loads((artifact / "metadata.json").read_text())
    assert meta["git"].keys() == {"commit", "dirty"} and len(meta["data_sha256"]) == 64
    contract = json.loads((artifact / "contract.json").read_text())
    assert contract["target"] == "churned" and "customer_id" not in [c["name"] for c in contract["columns"] if c["kind"] != "dropped"]
    # the umask's modes (022 here: 0755 and 0644), not the temporary folder's private 0700/0600
    assert artifact.stat().st_mode & 0o777 == default_mode(is_dir=True), oct(artifact.stat().st_mode)
    for f in artifact.iterdir():
        assert f.stat().st_mode & 0o777 == default_mode(), (f.name, oct(f.stat().st_mode))

    ev = run_cli("evaluate", "--artifact", str(artifact), "--json", "--n-bootstrap", "0", "--quiet", cwd=tmp_path)
    assert ev.returncode == 0, ev.stderr
    evs = json.loads(ev.stdout)
    assert evs["rows"] == "holdout" and evs["n_rows"] == summary["n_test"]
    assert evs["metrics"] == pytest.approx(summary["metrics"], rel=0, abs=0)


def test_train_human_output(tmp_path: Path) -> None:
    proc = run_cli("train", "--data", "diabetes", "--model", "linear", *FAST, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "regression" in proc.stdout and "rmse" in proc.stdout and "artifact:" in proc.stdout
    assert proc.stderr == ""  # --quiet: no progress, no info logs


@pytest.mark.parametrize(
    "args, message",
    [
        (["--data", "penguin"], "did you mean 'penguins'?"),
        (["--data", "nope/missing.csv"], "does not exist"),
        (["--data", "penguins", "--target", "specie"], "did you mean ['species']?"),
        (["--data", "penguins", "--model", "xgboost"], "unknown model 'xgboost' for task 'classification'"),
        (["--data", "penguins", "--set", "max_iter"], "--set 'max_iter' is malformed"),
        (["--data", "penguins", "--set", "max_iters=3"], "did you mean 'max_iter'?"),
        (["--data", "penguins", "--task", "regression"], "cannot be a regression target"),
        (["--data", "penguins", "--test-size", "1.5"], "test_size must be between 0 and 1; got 1.5"),
    ],
    ids=["dataset-typo", "missing-file", "target-typo", "unknown-model", "malformed-set", "unknown-param",
         "text-target-regression", "bad-test-size"],
)
def test_bad_input_exits_2_with_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    proc = run_cli("train", *args, "--quiet", cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""
    assert not (tmp_path / "models").exists()  # nothing half-written


def test_debug_shows_traceback(tmp_path: Path) -> None:
    proc = run_cli("train", "--data", "penguin", "--debug", cwd=tmp_path)
    assert proc.returncode == 2 and "Traceback" in proc.stderr and "did you mean 'penguins'?" in proc.stderr


def test_usage_error_exits_2(tmp_path: Path) -> None:
    proc = run_cli("train", "--task", "clustering", cwd=tmp_path)
    assert proc.returncode == 2 and "option --task: unknown task 'clustering'" in proc.stderr, proc.stderr


def test_settings_precedence_through_cli(tmp_path: Path, demo_csv: Path) -> None:
    (tmp_path / "settings.ini").write_text(
        f"[data]\nsource = {demo_csv}\ntarget = churned\n[train]\nmodel = linear\nseed = 5\ncv_folds = 3\n"
        "n_bootstrap = 20\n")
    proc = run_cli("train", "--json", "--quiet", cwd=tmp_path, env={"MLPROJ_TRAIN_SEED": "7"})
    assert proc.returncode == 0, proc.stderr
    s = json.loads(proc.stdout)
    assert (s["model"], s["seed"], s["target"]) == ("linear", 7, "churned")
    flag = run_cli("train", "--json", "--quiet", "--seed", "9", cwd=tmp_path, env={"MLPROJ_TRAIN_SEED": "7"})
    assert json.loads(flag.stdout)["seed"] == 9
    (tmp_path / "settings.ini").write_text("[train]\nseed = many\n")
    bad = run_cli("train", "--quiet", cwd=tmp_path)
    assert bad.returncode == 2 and "settings.ini line 2, [train] seed must be an int; got 'many'" in bad.stderr
    (tmp_path / "settings.ini").write_text("[data]\ntest_size = 0.3\n\n[trian]\nseed = 3\n")
    typo = run_cli("train", "--quiet", cwd=tmp_path)
    assert typo.returncode == 2 and "Traceback" not in typo.stderr, typo.stderr
    assert "settings.ini line 4: unknown section [trian]; did you mean [train]?" in typo.stderr, typo.stderr


def test_evaluate_without_artifact(tmp_path: Path) -> None:
    proc = run_cli("evaluate", "--quiet", cwd=tmp_path)
    assert proc.returncode == 2 and "no model artifact at" in proc.stderr and "mlproj train" in proc.stderr


def test_evaluate_on_other_data(tmp_path: Path, demo_csv: Path) -> None:
    run = run_cli("train", "--data", str(demo_csv), "--target", "churned", "--model", "linear", "--json", *FAST,
                  cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    new = make_demo_data(n_rows=120, random_state=3)
    new.to_csv(tmp_path / "new.csv", index=False)
    ev = run_cli("evaluate", "--data", str(tmp_path / "new.csv"), "--json", "--quiet", cwd=tmp_path)
    assert ev.returncode == 0, ev.stderr
    assert json.loads(ev.stdout)["rows"] == "all" and json.loads(ev.stdout)["n_rows"] == 120
    new.drop(columns=["plan"]).to_csv(tmp_path / "bad.csv", index=False)
    bad = run_cli("evaluate", "--data", str(tmp_path / "bad.csv"), "--quiet", cwd=tmp_path)
    assert bad.returncode == 2 and "missing required column(s) ['plan']" in bad.stderr
    assert pd.read_csv(tmp_path / "bad.csv").shape[1] == new.shape[1] - 1

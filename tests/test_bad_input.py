"Every bad input gets one clear line and exit code 2 (3 for `mlproj check` errors), and leaves nothing behind."

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import run_cli

from mlproj.data.sources import make_demo_data

FAST = ["--model", "linear", "--cv-folds", "3", "--n-bootstrap", "20", "--quiet"]


def _demo(n: int = 200) -> pd.DataFrame:
    return make_demo_data(n_rows=n, random_state=0)


def _write(tmp: Path, name: str, make) -> Path:
    path = tmp / name
    make(path)
    return path


CASES = {
    "missing-path": (lambda p: None, "nope.csv", "churned", "does not exist"),
    "empty-file": (lambda p: p.write_text(""), "empty.csv", "churned", "is empty"),
    "header-only": (lambda p: p.write_text("a,b,churned\n"), "header.csv", "churned", "has no data rows"),
    "not-utf8": (lambda p: p.write_bytes("city,churned\nMálaga,yes\nSevilla,no\n".encode("latin-1")), "latin.csv",
                 "churned", "is not UTF-8"),
    "duplicated-columns": (lambda p: p.write_text("a,a,churned\n1,2,yes\n3,4,no\n"), "dup.csv", "churned",
                           "duplicated column name(s) ['a']"),
    "target-typo": (lambda p: _demo().to_csv(p, index=False), "d.csv", "churn", "did you mean ['churned']?"),
    "target-all-missing": (lambda p: _demo().assign(churned=np.nan).to_csv(p, index=False), "d.csv", "churned",
                           "churned"),
    "target-one-class": (lambda p: _demo().assign(churned="yes").to_csv(p, index=False), "d.csv", "churned",
                         "single class"),
    "infinite-values": (lambda p: _demo().assign(monthly_usage=lambda d: d.monthly_usage.where(d.index != 5, np.inf))
                        .to_csv(p, index=False), "d.csv", "churned",
                        "column 'monthly_usage' has 1 infinite value(s) (first rows [5])"),
    "too-small-for-cv": (lambda p: _demo(200).groupby("churned").head(6).to_csv(p, index=False), "d.csv", "churned",
                         "target 'churned' has 12 labelled row(s), too few for a 0.2 holdout with each of the 2 "
                         "classes on both sides and 5-fold cross-validation (2 training rows per fold): at least "
                         "13 are needed. Add rows, or lower --cv-folds or raise --test-size."),
    "four-rows": (lambda p: _demo(200).iloc[[0, 1, 2, 5]].assign(churned=["yes", "no", "yes", "no"])
                  .to_csv(p, index=False), "d.csv", "churned",
                  "target 'churned' has 4 labelled row(s), too few for a 0.2 holdout with each of the 2 classes "
                  "on both sides and 3-fold cross-validation (2 training rows per fold): at least 8 are needed."),
}


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_bad_training_input(tmp_path: Path, case: str) -> None:
    make, name, target, message = CASES[case]
    path = _write(tmp_path, name, make)
    extra = ["--cv-folds", "5"] if case == "too-small-for-cv" else []
    proc = run_cli("train", "--data", str(path), "--target", target, *FAST, *extra, cwd=tmp_path)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert lines and message in lines[-1] and "Traceback" not in proc.stderr, proc.stderr
    assert not (tmp_path / "models").exists() and proc.stdout == ""


def test_all_missing_column_is_dropped_not_fatal(tmp_path: Path) -> None:
    path = _write(tmp_path, "d.csv", lambda p: _demo().assign(tenure_months=np.nan).to_csv(p, index=False))
    proc = run_cli("train", "--data", str(path), "--target", "churned", "--json", *FAST[:-1], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "'tenure_months' (all missing)" in proc.stderr, proc.stderr
    meta = json.loads((Path(json.loads(proc.stdout)["artifact"]) / "metadata.json").read_text())
    assert meta["columns"]["dropped"]["tenure_months"] == "all missing", meta["columns"]


def test_row_numbers_are_not_features(tmp_path: Path) -> None:
    "A file sorted by the target and saved with its index: the row numbers would give the target away."
    df = make_demo_data(n_rows=300, task="regression", random_state=0).sort_values("spend")
    path = tmp_path / "sorted.csv"
    df.reset_index(drop=True).to_csv(path)  # pandas writes the unnamed index: 'Unnamed: 0' when read back
    proc = run_cli("train", "--data", str(path), "--target", "spend", "--json", *FAST[:-1], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "'Unnamed: 0' (row index)" in proc.stderr, proc.stderr
    out = json.loads(proc.stdout)
    meta = json.loads((Path(out["artifact"]) / "metadata.json").read_text())
    assert meta["columns"]["dropped"] == {"Unnamed: 0": "row index", "customer_id": "ID-like", "region": "constant"}
    assert "Unnamed: 0" not in meta["columns"]["numeric"]


def test_regression_on_text_target(tmp_path: Path) -> None:
    proc = run_cli("train", "--data", "penguins", "--task", "regression", *FAST, cwd=tmp_path)
    assert proc.returncode == 2 and "not numeric, so it cannot be a regression target" in proc.stderr


def test_other_delimiter_and_bom_are_read(tmp_path: Path) -> None:
    path = tmp_path / "semi.csv"
    path.write_bytes(b"\xef\xbb\xbf" + _demo().to_csv(index=False, sep=";").encode())
    proc = run_cli("train", "--data", str(path), "--target", "churned", "--json", *FAST, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["target"] == "churned"


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("trained")
    _demo(300).to_csv(tmp / "train.csv", index=False)
    proc = run_cli("train", "--data", str(tmp / "train.csv"), "--target", "churned", "--json", *FAST, cwd=tmp)
    assert proc.returncode == 0, proc.stderr
    return tmp, Path(json.loads(proc.stdout)["artifact"])


def _score(trained, frame: pd.DataFrame, name: str):
    tmp, artifact = trained
    frame.to_csv(tmp / name, index=False)
    return run_cli("evaluate", "--artifact", str(artifact), "--data", str(tmp / name), "--json", "--n-bootstrap", "0",
                   cwd=tmp)


def test_scoring_missing_column_is_an_error(trained) -> None:
    proc = _score(trained, make_demo_data(100, random_state=5).drop(columns="plan"), "no_plan.csv")
    assert proc.returncode == 2 and "missing required column(s) ['plan']" in proc.stderr


def test_scoring_wrong_type_is_an_error(trained) -> None:
    frame = make_demo_data(100, random_state=5).astype({"tenure_months": object})
    frame.loc[3, "tenure_months"] = "twelve"
    proc = _score(trained, frame, "wrong_type.csv")
    assert proc.returncode == 2, proc.stderr
    assert "column 'tenure_months' must hold numbers; 1 value(s) do not: 'twelve' at row 3" in proc.stderr


def test_scoring_extra_columns_and_unseen_categories_are_warnings(trained) -> None:
    frame = make_demo_data(100, random_state=5).assign(notes="n/a")
    frame.loc[:9, "plan"] = "platinum"
    proc = _score(trained, frame, "new.csv")
    assert proc.returncode == 0, proc.stderr
    assert "ignoring column(s) the model was not trained on: ['notes']" in proc.stderr
    assert "10 value(s) in categories never seen in training {'platinum': 10}" in proc.stderr
    assert json.loads(proc.stdout)["n_rows"] == 100


def test_check_exit_codes(tmp_path: Path) -> None:
    ok = run_cli("check", "--data", "penguins", "--json", "--quiet", cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    report = json.loads(ok.stdout)
    assert report["n_errors"] == 0 and report["target"] == "species"
    leaky = _demo().assign(leak=lambda d: (d.churned == "yes").astype(int))
    leaky.to_csv(tmp_path / "leaky.csv", index=False)
    bad = run_cli("check", "--data", str(tmp_path / "leaky.csv"), "--target", "churned", "--quiet", cwd=tmp_path)
    assert bad.returncode == 3, bad.stderr
    assert "error" in bad.stdout and "target_leakage" in bad.stdout and "'leak'" in bad.stdout
    missing = run_cli("check", "--data", "nope.csv", "--quiet", cwd=tmp_path)
    assert missing.returncode == 2 and "does not exist" in missing.stderr
    blocked = run_cli("train", "--data", str(tmp_path / "leaky.csv"), "--target", "churned", *FAST, cwd=tmp_path)
    assert blocked.returncode == 2 and "leak" in blocked.stderr and not (tmp_path / "models").exists()


def test_data_report(tmp_path: Path) -> None:
    proc = run_cli("report", "data", "--data", "penguins", "--quiet", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    run_dir = Path(proc.stdout.strip().removeprefix("report: ")).parent
    assert run_dir.parent == tmp_path / "reports" / "data"
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["n_rows"] == 344 and metrics["n_errors"] == 0
    assert {p.name for p in (run_dir / "figures").iterdir()} == {"missingness.png", "target.png",
                                                                 "distributions.png", "correlations.png"}

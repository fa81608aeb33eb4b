"Report templates run for real: `mlproj report` (papermill + a real kernel) and the plain papermill CLI."

import json
import subprocess
import sys
from pathlib import Path

import nbformat
import numpy as np
import pytest
from conftest import run_cli
from sklearn.metrics import accuracy_score, log_loss, roc_auc_score

from mlproj.data import load_data, split_data
from mlproj.report import template_path

FAST = ["--cv-folds", "3", "--n-bootstrap", "50"]


def test_report_writes_everything_and_matches_sklearn(tmp_path: Path) -> None:
    proc = run_cli("report", "--data", "wine", "--model", "linear", "--seed", "1", *FAST, "--quiet", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    html = Path(proc.stdout.strip().removeprefix("report: "))
    run_dir = html.parent
    assert run_dir.parent == tmp_path / "reports" / "model"
    assert (tmp_path / "reports" / "model" / "latest").resolve() == run_dir.resolve()
    assert {p.name for p in run_dir.iterdir()} == {"report.ipynb", "report.html", "metrics.json", "figures",
                                                   "timings.json"}
    assert {p.name for p in (run_dir / "figures").iterdir()} == {"metrics.png", "diagnostics.png", "importance.png"}
    text = html.read_text()
    assert "data:image/png;base64" in text and "cdnjs" not in text
    assert "from mlproj.report import ModelReport" not in text  # code hidden by default
    executed = nbformat.read(run_dir / "report.ipynb", as_version=4)
    stderr = [o for c in executed.cells if c.cell_type == "code" for o in c.outputs
              if o.output_type == "stream" and o.name == "stderr"]
    assert not stderr, stderr  # no progress bars or raw warnings in a report
    timings = json.loads((run_dir / "timings.json").read_text())
    assert {"kernel_start", "train", "plot", "html_export"} <= timings.keys()

    # Every holdout number equals a hand-written scikit-learn computation on the same split.
    metrics = json.loads((run_dir / "metrics.json").read_text())
    from mlproj.contracts import infer_column_types
    from mlproj.models import make_model

    split = split_data(load_data("wine"), "cultivar", "classification", test_size=0.2, random_state=1)
    model = make_model("classification", "linear", infer_column_types(split.X_train), random_state=1)
    model.fit(split.X_train, split.y_train)
    proba = model.predict_proba(split.X_test)
    hold = metrics["holdout"]["model"]
    assert hold["roc_auc"]["value"] == pytest.approx(roc_auc_score(split.y_test, proba, multi_class="ovr"), abs=1e-12)
    assert hold["accuracy"]["value"] == pytest.approx(accuracy_score(split.y_test, model.predict(split.X_test)),
                                                      abs=1e-12)
    assert hold["log_loss"]["value"] == pytest.approx(log_loss(split.y_test, proba), abs=1e-12)
    assert hold["accuracy"]["ci_low"] <= hold["accuracy"]["value"] <= hold["accuracy"]["ci_high"]
    assert metrics["holdout"]["baseline"]["roc_auc"]["value"] == 0.5


def test_show_code_keeps_code(tmp_path: Path) -> None:
    proc = run_cli("report", "--data", "diabetes", "--model", "linear", *FAST, "--show-code", "--quiet",
                   cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    html = Path(proc.stdout.strip().removeprefix("report: ")).read_text()
    assert "ModelReport" in html and "write_metrics" in html and ".tmp/metrics.json" not in html


def test_report_help_lists_typed_parameters(tmp_path: Path) -> None:
    proc = run_cli("report", "--help", cwd=tmp_path)
    assert proc.returncode == 0
    assert "parameters of report 'model'" in proc.stdout
    assert "n_bootstrap  int" in proc.stdout and "test_size    float" in proc.stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (["-p", "sed", "3"], "report 'model' has no parameter 'sed' (did you mean 'seed'?)"),
        (["-p", "seed", "abc"], "report parameter 'seed' must be an int; got 'abc'"),
        (["--model", "xgb"], "unknown model 'xgb'"),
        (["--data", "nope.csv"], "does not exist"),
        (["modle"], "unknown report 'modle' (did you mean 'model'?)"),
        (["data", "-p", "task", "clustering"], "unknown task 'clustering'"),
        (["data", "--data", "penguins", "--target", "specie"], "did you mean ['species']?"),
    ],
    ids=["unknown-param", "wrong-type", "unknown-model", "missing-data", "unknown-report", "data-bad-task",
         "data-bad-target"],
)
def test_bad_parameters_rejected_before_kernel(tmp_path: Path, args: list[str], message: str) -> None:
    proc = run_cli("report", *args, "--quiet", cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "reports").exists()  # no kernel started, nothing written


def test_failing_report_is_kept_outside_latest(tmp_path: Path) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell('x: int = 1  # a number', metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell("raise ValueError(f'broken on purpose, x={x}')")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    template = tmp_path / "broken.ipynb"
    nbformat.write(nb, template)
    ok = run_cli("report", str(template), "-p", "x", "5", "--quiet", cwd=tmp_path)
    assert ok.returncode == 1
    assert "report 'broken' failed in cell" in ok.stderr and "broken on purpose, x=5" in ok.stderr
    failed = list((tmp_path / "reports" / "broken").glob("*-failed"))
    assert len(failed) == 1 and not (tmp_path / "reports" / "broken" / "latest").exists()
    executed = nbformat.read(failed[0] / "report.ipynb", as_version=4)
    assert any(o.get("ename") == "ValueError" for c in executed.cells for o in c.get("outputs", []))
    assert not list((tmp_path / "reports" / "broken").glob(".*.tmp"))


def test_plain_papermill_cli_runs_the_template(tmp_path: Path) -> None:
    out = tmp_path / "out.ipynb"
    papermill = Path(sys.executable).parent / "papermill"
    proc = subprocess.run([str(papermill), str(template_path("model")), str(out), "-p", "data", "iris",
                           "-p", "model", "linear", "-p", "cv_folds", "3", "-p", "n_bootstrap", "20",
                           "--no-progress-bar"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    executed = nbformat.read(out, as_version=4)
    outputs = [o for c in executed.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert any("image/png" in o.get("data", {}) for o in outputs)
    injected = [c for c in executed.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert injected and 'data = "iris"' in injected[0].source


def test_template_is_clean_and_tagged() -> None:
    nb = nbformat.read(template_path("model"), as_version=4)
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code")


def test_unchanged_report_is_reused_and_no_cache_reexecutes(tmp_path: Path) -> None:
    args = ["report", "--data", "iris", "--model", "linear", *FAST]
    first = run_cli(*args, "--quiet", cwd=tmp_path)
    second = run_cli(*args, cwd=tmp_path)
    assert first.returncode == 0 and second.returncode == 0, second.stderr
    run1 = Path(first.stdout.strip().removeprefix("report: ")).parent
    run2 = Path(second.stdout.strip().removeprefix("report: ")).parent
    assert run1 != run2 and "reused it" in second.stderr
    assert json.loads((run2 / "timings.json").read_text())["reused_from"] == run1.name
    assert (run2 / "metrics.json").read_text() == (run1 / "metrics.json").read_text()
    assert (tmp_path / "reports" / "model" / "latest").resolve() == run2.resolve()
    third = run_cli(*args, "--no-cache", "--quiet", cwd=tmp_path)
    run3 = Path(third.stdout.strip().removeprefix("report: ")).parent
    assert "reused_from" not in json.loads((run3 / "timings.json").read_text())
    changed = run_cli(*args, "--seed", "4", "--quiet", cwd=tmp_path)
    run4 = Path(changed.stdout.strip().removeprefix("report: ")).parent
    assert "reused_from" not in json.loads((run4 / "timings.json").read_text())

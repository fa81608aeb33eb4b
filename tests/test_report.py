"Report templates run for real: `mlproj report` (papermill + a real kernel) and the plain papermill CLI."

import json
import re
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import nbformat
import pytest
from conftest import run_cli
from sklearn.metrics import accuracy_score, log_loss, roc_auc_score

from mlproj.core.io import default_mode
from mlproj.data.sources import load_data, split_data
from mlproj.reporting.report import report_parameters, template_path

ROOT = Path(__file__).resolve().parents[1]

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
    assert "from mlproj.reporting.pages import ModelReport" not in text  # code hidden by default
    executed = nbformat.read(run_dir / "report.ipynb", as_version=4)
    stderr = [o for c in executed.cells if c.cell_type == "code" for o in c.outputs
              if o.output_type == "stream" and o.name == "stderr"]
    assert not stderr, stderr  # no progress bars or raw warnings in a report
    timings = json.loads((run_dir / "timings.json").read_text())
    assert {"kernel_start", "train", "plot", "html_export"} <= timings.keys()
    for p in [run_dir, *(run_dir / n for n in ["report.html", "report.ipynb", "metrics.json", "timings.json"])]:
        assert p.stat().st_mode & 0o777 == default_mode(p.is_dir()), p  # the umask's mode, not 0600/0700

    # Every holdout number equals a hand-written scikit-learn computation on the same split.
    metrics = json.loads((run_dir / "metrics.json").read_text())
    from mlproj.data.contracts import infer_column_types
    from mlproj.modeling.models import make_model

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

    # The page says what it is: title, run id and execution time at the top, every detail in full.
    run_id = run_dir.name
    assert f"<title>mlproj model report — wine — {run_id}</title>" in text
    run_line = re.search(rf"Run <code>{run_id}</code>, executed (\d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d) UTC", text)
    assert run_line, "the page does not say which run it is and when it was executed"
    # the run id is stamped before the kernel starts: the execution time is at most seconds later
    executed_at = datetime.strptime(run_line[1], "%Y-%m-%d %H:%M:%S")
    assert 0 <= (executed_at - datetime.strptime(run_id[:15], "%Y%m%dT%H%M%S")).total_seconds() <= 120
    assert run_line.start() < text.index("Holdout metrics against the baseline")
    assert metrics["data_sha256"] in text  # the whole SHA-256, not cut short
    assert "od280/od315_of_diluted_wines, proline" in text and "importance" in text.split("fit timings (s)")[1]
    # metrics tables: rows are metrics, column groups the model (by name) and the baseline, never "model" twice
    assert '<th colspan="3" halign="left">linear</th>' in text
    assert '<th colspan="3" halign="left">baseline (dummy)</th>' in text
    assert ">model</th>" not in text


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


def _papermill_section() -> str:
    "Return README.md's section on papermill, as printed."
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    return readme.split("## Scheduled reports with papermill", 1)[1].split("\n## ", 1)[0]


def test_readme_papermill_commands_write_what_they_promise(tmp_path: Path) -> None:
    # As printed, in a folder whose .venv is the environment running the tests (`make` builds it at the root).
    (tmp_path / ".venv").symlink_to(sys.prefix, target_is_directory=True)
    section = _papermill_section()
    commands = next(b for b in re.findall(r"```bash\n(.*?)```", section, flags=re.S) if ".venv/bin/papermill" in b)
    proc = subprocess.run(["bash", "-euo", "pipefail", "-c", commands], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    promised = set(re.findall(r"`(reports/papermill/[^`]+)`", section))
    assert promised == {"reports/papermill/model.ipynb", "reports/papermill/model.html"}
    out = tmp_path / "reports" / "papermill"
    assert all((tmp_path / p).is_file() for p in promised)
    assert {p.name for p in (out / "figures").iterdir()} == {"metrics.png", "diagnostics.png", "importance.png"}
    metrics = json.loads((out / "metrics.json").read_text())
    assert (metrics["data"], metrics["model"]) == ("wine", "linear")
    assert 0.5 < metrics["holdout"]["model"]["accuracy"]["value"] <= 1
    executed = nbformat.read(out / "model.ipynb", as_version=4)
    outputs = [o for c in executed.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert any("image/png" in o.get("data", {}) for o in outputs)
    injected = [c for c in executed.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert injected and 'data = "wine"' in injected[0].source


def test_data_report_on_clean_data_says_so_without_warnings(tmp_path: Path) -> None:
    proc = run_cli("report", "data", "--data", "penguins", "--quiet", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    html = Path(proc.stdout.strip().removeprefix("report: "))
    text = html.read_text()
    assert f"<title>mlproj data report — penguins — {html.parent.name}</title>" in text
    assert "UserWarning" not in text and "Warning:" not in text and "warnings.warn" not in text
    findings = text.split("Findings", 1)[1].split("Columns", 1)[0]
    assert "No findings: none of the data quality checks flagged anything in the 344 rows and 8 columns" in findings
    assert "<table" not in findings  # no empty table with headers only


@pytest.mark.parametrize("name", ["model", "data"])
def test_template_is_clean_and_tagged(name: str) -> None:
    nb = nbformat.read(template_path(name), as_version=4)
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code")
    # run by plain papermill without -p out_dir, metrics.json and figures/ go to the working folder
    assert report_parameters(name)["out_dir"]["default"] == '"."'


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
    assert run2.stat().st_mode & 0o777 == default_mode(is_dir=True)
    assert (run2 / "report.html").stat().st_mode & 0o777 == default_mode()
    third = run_cli(*args, "--no-cache", "--quiet", cwd=tmp_path)
    run3 = Path(third.stdout.strip().removeprefix("report: ")).parent
    assert "reused_from" not in json.loads((run3 / "timings.json").read_text())
    changed = run_cli(*args, "--seed", "4", "--quiet", cwd=tmp_path)
    run4 = Path(changed.stdout.strip().removeprefix("report: ")).parent
    assert "reused_from" not in json.loads((run4 / "timings.json").read_text())

"A task defined outside mlproj (tests/plugins/quantile_task.py) goes through every command untouched."

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import requests
from conftest import ROOT, run_cli
from test_serve import Server

from mlproj.data.sources import make_demo_data
from mlproj.lifecycle.artifacts import load_artifact

FAST = ["--cv-folds", "3", "--n-bootstrap", "50", "--quiet"]


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    "A project whose settings.ini names the plugin module in its folder."
    d = tmp_path_factory.mktemp("quantile")
    shutil.copy2(ROOT / "tests" / "plugins" / "quantile_task.py", d / "quantile_task.py")
    (d / "settings.ini").write_text("[train]\nplugins = quantile_task\n")
    df = make_demo_data(n_rows=600, task="regression", random_state=0)
    df.iloc[:500].to_csv(d / "spend.csv", index=False)
    df.iloc[500:].drop(columns="spend").to_csv(d / "new.csv", index=False)
    return d


@pytest.fixture(scope="module")
def trained(project: Path) -> dict:
    proc = run_cli("train", "--data", "spend.csv", "--target", "spend", "--task", "quantile", "--model", "hgb",
                   "--json", *FAST, cwd=project)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_train_and_evaluate(project: Path, trained: dict) -> None:
    assert trained["task"] == "quantile" and set(trained["metrics"]) == {"pinball", "coverage_gap"}
    assert trained["metrics"]["pinball"] < trained["baseline_metrics"]["pinball"], trained
    meta = json.loads((Path(trained["artifact"]) / "metadata.json").read_text())
    assert meta["task"] == "quantile"
    ev = run_cli("evaluate", "--model", trained["artifact"], "--json", "--n-bootstrap", "0", "--quiet", cwd=project)
    assert ev.returncode == 0, ev.stderr
    assert json.loads(ev.stdout)["metrics"] == pytest.approx(trained["metrics"], rel=0, abs=1e-12)


def test_unknown_task_names_the_plugin_tasks(project: Path) -> None:
    proc = run_cli("train", "--data", "spend.csv", "--target", "spend", "--task", "quantil", *FAST, cwd=project)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert "unknown task 'quantil'" in proc.stderr and "'quantile'" in proc.stderr, proc.stderr
    bad = project / "other"
    bad.mkdir()
    (bad / "settings.ini").write_text("[train]\nplugins = no_such_module\n")
    proc = run_cli("train", "--quiet", cwd=bad)
    assert proc.returncode == 2 and "cannot import plugin 'no_such_module'" in proc.stderr, proc.stderr


def test_report(project: Path) -> None:
    proc = run_cli("report", "--data", "spend.csv", "--target", "spend", "--task", "quantile", "--model", "linear",
                   *FAST, cwd=project)
    assert proc.returncode == 0, proc.stderr
    run_dir = Path(proc.stdout.strip().removeprefix("report: ")).parent
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["task"] == "quantile" and "pinball" in json.dumps(metrics), metrics
    assert (run_dir / "figures" / "diagnostics.png").stat().st_size > 1000


def test_score(project: Path, trained: dict) -> None:
    proc = run_cli("score", "--model", trained["artifact"], "--data", "new.csv", "--out", "scored.csv", "--json",
                   "--quiet", cwd=project)
    assert proc.returncode == 0, proc.stderr
    got = pd.read_csv(project / "scored.csv")
    model, _ = load_artifact(trained["artifact"])
    new = pd.read_csv(project / "new.csv")
    assert list(got.columns) == ["customer_id", "prediction"]
    np.testing.assert_allclose(got["prediction"], model.predict(new), rtol=0, atol=1e-9)


def test_serve(project: Path, trained: dict) -> None:
    srv = Server(project, "--model", trained["artifact"])
    try:
        new = pd.read_csv(project / "new.csv").head(3)
        records = json.loads(new.to_json(orient="records"))
        r = srv.post("/predict", records)
        assert r.status_code == 200, r.text
        model, _ = load_artifact(trained["artifact"])
        np.testing.assert_allclose(r.json()["predictions"], model.predict(new), rtol=0, atol=1e-9)
        assert requests.get(srv.url + "/metadata", timeout=30).json()["task"] == "quantile"
    finally:
        assert srv.stop() == 0

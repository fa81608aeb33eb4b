"Same data, settings and seed give identical metrics and predictions in two separate processes."

import json
from pathlib import Path

import joblib
import numpy as np
from conftest import run_cli

from mlproj.data.sources import load_data, make_demo_data


def _train(cwd: Path, *args: str) -> dict:
    proc = run_cli("train", *args, "--json", "--quiet", "--no-cache", "--cv-folds", "3", "--n-bootstrap", "100",
                   cwd=cwd)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_two_processes_agree_exactly(tmp_path: Path) -> None:
    data = tmp_path / "customers.csv"
    make_demo_data(n_rows=400, random_state=0).to_csv(data, index=False)
    args = ("--data", str(data), "--target", "churned", "--model", "hgb", "--seed", "3", "--set", "max_iter=60")
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    a, b = _train(tmp_path / "a", *args), _train(tmp_path / "b", *args)
    assert a["run_id"] != b["run_id"]
    assert a["data_sha256"] == b["data_sha256"]
    assert a["metrics"] == b["metrics"] and a["baseline_metrics"] == b["baseline_metrics"]
    meta_a = json.loads((Path(a["artifact"]) / "metadata.json").read_text())
    meta_b = json.loads((Path(b["artifact"]) / "metadata.json").read_text())
    assert meta_a["metrics"] == meta_b["metrics"]  # CV, CIs and importances too
    X = load_data(str(data)).drop(columns="churned")
    pa = joblib.load(Path(a["artifact"]) / "model.joblib").predict_proba(X)
    pb = joblib.load(Path(b["artifact"]) / "model.joblib").predict_proba(X)
    np.testing.assert_array_equal(pa, pb)


def test_another_seed_changes_the_split(tmp_path: Path) -> None:
    a = _train(tmp_path, "--data", "penguins", "--model", "linear", "--seed", "0")
    b = _train(tmp_path, "--data", "penguins", "--model", "linear", "--seed", "1")
    assert a["metrics"] != b["metrics"]

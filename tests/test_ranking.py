"`--task ranking` through every command: train, bad input, evaluate, score, serve, report, MLflow and reproduce."

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import run_cli
from test_serve import Server

from mlproj.core.runspec import RunSpec
from mlproj.data.sources import split_data
from mlproj.lifecycle.artifacts import load_artifact
from mlproj.tasks.ranking import make_ranking_data

FAST = ["--cv-folds", "3", "--n-bootstrap", "50", "--quiet"]
RANK = ["--task", "ranking", "--target", "relevance", "--group", "qid"]
ON = {"MLPROJ_TRACKING_ENABLED": "true"}


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    "A folder with f.csv (60 queries, 5-15 documents each) and new.csv (10 other queries, no relevance)."
    d = tmp_path_factory.mktemp("ranking")
    make_ranking_data(60, (5, 15), seed=0).to_csv(d / "f.csv", index=False)
    make_ranking_data(10, (3, 6), seed=1).drop(columns="relevance").to_csv(d / "new.csv", index=False)
    return d


@pytest.fixture(scope="module")
def trained(project: Path) -> dict:
    proc = run_cli("train", "--data", "f.csv", *RANK, "--json", "--no-track", *FAST, cwd=project)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def _metadata(trained: dict) -> dict:
    return json.loads((Path(trained["artifact"]) / "metadata.json").read_text())


def test_train(trained: dict) -> None:
    assert trained["task"] == "ranking" and trained["model"] == "lambdarank", trained
    assert {"ndcg@10", "map@10", "mrr"} <= set(trained["metrics"]), trained["metrics"]
    assert set(trained["metrics"]) == set(trained["baseline_metrics"])
    assert trained["metrics"]["ndcg@10"] > trained["baseline_metrics"]["ndcg@10"] + 0.1, trained
    meta = _metadata(trained)
    assert meta["settings"]["run"]["columns"] == {"group": "qid"}, meta["settings"]["run"]
    assert meta["metrics"]["primary_metric"] == "ndcg@10"


def test_holdout_keeps_queries_whole(project: Path, trained: dict) -> None:
    "The split the artifact records, rebuilt from its spec: no query has rows on both sides."
    spec = RunSpec.from_metadata(_metadata(trained))
    df = pd.read_csv(project / "f.csv")
    split = split_data(df, spec.target, spec.task_object(), spec.test_size, spec.seed, spec.cv_folds)
    assert (len(split.X_train), len(split.X_test)) == (trained["n_train"], trained["n_test"])
    train_q, test_q = set(split.X_train.qid), set(split.X_test.qid)
    assert train_q.isdisjoint(test_q) and train_q | test_q == set(df.qid), train_q & test_q
    assert len(test_q) == pytest.approx(0.2 * df.qid.nunique(), abs=1)


# bad input: (file maker, extra args, text of the one stderr line)
def _frame() -> pd.DataFrame:
    return make_ranking_data(40, (4, 8), seed=2)


GRADES = {0: "bad", 1: "fair", 2: "good", 3: "great", 4: "perfect"}
BAD = {
    "no-group": (_frame, ["--task", "ranking", "--target", "relevance"], "pass --group COLUMN"),
    "group-typo": (_frame, ["--task", "ranking", "--target", "relevance", "--group", "qdi"],
                   "group column 'qdi' (--group) is not in d.csv; did you mean 'qid'?"),
    "group-all-null": (lambda: _frame().assign(qid=np.nan), RANK, "group column 'qid' in d.csv has no values"),
    "relevance-text": (lambda: _frame().assign(relevance=lambda d: d.relevance.map(GRADES)), RANK,
                       "relevance 'relevance' is str"),
    "one-document-per-query": (lambda: _frame().groupby("qid").head(1), RANK,
                               "every one of the 40 queries in 'qid' has one document"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(BAD), ids=list(BAD))
def test_bad_input(tmp_path: Path, case: str) -> None:
    make, args, message = BAD[case]
    make().to_csv(tmp_path / "d.csv", index=False)
    proc = run_cli("train", "--data", "d.csv", *args, "--no-track", *FAST, cwd=tmp_path)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in proc.stderr, proc.stderr
    assert proc.stdout == "" and not (tmp_path / "models").exists()


def test_group_is_ignored_by_classification(tmp_path: Path) -> None:
    proc = run_cli("train", "--data", "penguins", "--task", "classification", "--group", "qid", "--model", "linear",
                   "--json", "--no-track", *FAST, cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "ignoring --group qid: task 'classification' has no such column role" in proc.stderr, proc.stderr
    meta = _metadata(json.loads(proc.stdout))
    assert meta["settings"]["run"]["columns"] == {}, meta["settings"]["run"]


def test_evaluate(project: Path, trained: dict) -> None:
    "Re-scoring the recorded holdout of the training file gives the training run's metrics."
    proc = run_cli("evaluate", "--model", trained["artifact"], "--json", "--n-bootstrap", "0", "--no-track",
                   "--quiet", cwd=project)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["metrics"] == pytest.approx(trained["metrics"], rel=0, abs=1e-12), out


def test_score(project: Path, trained: dict) -> None:
    new = pd.read_csv(project / "new.csv")
    new.loc[2, "qid"] = np.nan
    new.to_csv(project / "new_missing.csv", index=False)
    proc = run_cli("score", "--model", trained["artifact"], "--data", "new_missing.csv", "--out", "scored.csv",
                   "--json", "--quiet", cwd=project)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    counts = json.loads(proc.stdout)
    assert (counts["rows_scored"], counts["rows_rejected"]) == (len(new) - 1, 1), counts
    rejects = pd.read_csv(project / "scored.rejects.csv")
    assert len(rejects) == 1 and "column 'qid': missing" in rejects["reject_reason"][0], rejects
    assert rejects["bm25"][0] == new.loc[2, "bm25"], rejects  # the input row with the missing qid
    got = pd.read_csv(project / "scored.csv")
    kept = new.drop(index=2)
    assert "score" in got.columns and "qid" in got.columns, list(got.columns)
    assert got["qid"].tolist() == kept["qid"].astype(int).tolist()
    model, _ = load_artifact(trained["artifact"])
    np.testing.assert_allclose(got["score"], model.predict(kept), rtol=0, atol=1e-9)
    assert "does not have valid feature names" not in proc.stderr, proc.stderr


def test_serve(project: Path, trained: dict) -> None:
    srv = Server(project, "--model", trained["artifact"])
    try:
        new = pd.read_csv(project / "new.csv").head(6)
        records = json.loads(new.to_json(orient="records"))
        r = srv.post("/predict", records)
        assert r.status_code == 200, r.text
        model, _ = load_artifact(trained["artifact"])
        np.testing.assert_allclose(r.json()["predictions"], model.predict(new), rtol=0, atol=1e-9)
        # a query's documents are scored by the LightGBM trees compiled to C (issue 14), proven equal at start-up
        assert srv.get("/ready").json()["inference_path"] == "compiled"
        r = srv.post("/predict", [{k: v for k, v in records[0].items() if k != "qid"}])
        assert r.status_code == 422, r.text
        assert r.json()["errors"] == [
            {"record": 0, "field": "qid", "reason": r.json()["errors"][0]["reason"]}
        ]
        assert "field 'qid': missing" in r.json()["detail"], r.text
    finally:
        assert srv.stop() == 0


def test_report(project: Path) -> None:
    proc = run_cli("report", "model", "--data", "f.csv", *RANK, "--no-track", *FAST, cwd=project)
    assert proc.returncode == 0, proc.stderr
    assert "Unable to parse line" not in proc.stderr, proc.stderr  # papermill could not read a parameter
    html = Path(proc.stdout.strip().removeprefix("report: "))
    text = html.read_text()
    assert "NDCG@10 (gain 2^rel−1)" in text, html  # the metric tables name the gain
    assert (html.parent / "figures" / "diagnostics.png").stat().st_size > 0  # the per-query NDCG figure
    metrics = json.loads((html.parent / "metrics.json").read_text())
    assert metrics["task"] == "ranking" and "ndcg@10" in json.dumps(metrics), metrics


def test_tracking_and_reproduce(project: Path) -> None:
    "A tracked run records the query column and NDCG@10 in MLflow, and `mlproj reproduce` rebuilds it exactly."
    from mlflow.tracking import MlflowClient

    from mlproj.core.settings import load_settings
    from mlproj.lifecycle.tracking import stop_agent

    d = project / "tracked"
    d.mkdir()
    (d / "settings.ini").write_text("[tracking]\nagent_idle = 60\nmodel_name = ranker\n")
    (d / "f.csv").write_bytes((project / "f.csv").read_bytes())
    try:
        proc = run_cli("train", "--data", "f.csv", *RANK, "--json", *FAST, cwd=d, env=ON)
        assert proc.returncode == 0, proc.stderr
        out = json.loads(proc.stdout)
        run = MlflowClient(tracking_uri=f"sqlite:///{d}/mlruns.db").get_run(out["tracking"]["run_id"])
        assert run.data.params["run.columns.group"] == "qid", run.data.params
        ndcg = {k for k in run.data.metrics if k.startswith("holdout_ndcg") and "10" in k and "ci" not in k}
        assert len(ndcg) == 1, sorted(run.data.metrics)
        assert run.data.metrics[ndcg.pop()] == pytest.approx(out["metrics"]["ndcg@10"])
        proc = run_cli("reproduce", out["tracking"]["run_id"], "--json", cwd=d, env=ON)
        assert proc.returncode == 0, proc.stderr
        rep = json.loads(proc.stdout)
        assert rep["identical"] and rep["max_abs_diff"] == 0.0, rep
    finally:
        stop_agent(load_settings(project_dir=d, env={}))

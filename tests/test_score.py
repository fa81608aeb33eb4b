"""`mlproj score`: batch predictions in chunks, in real CLI processes."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import run_cli

from mlproj.artifacts import load_artifact
from mlproj.data import make_demo_data


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, pd.DataFrame]:
    "A project with an hgb model trained on demo data, and 2,500 new rows to score."
    d = tmp_path_factory.mktemp("score")
    make_demo_data(n_rows=800, random_state=0).to_csv(d / "train.csv", index=False)
    proc = run_cli("train", "--data", "train.csv", "--target", "churned", "--json", "--cv-folds", "3",
                   "--n-bootstrap", "0", "--quiet", cwd=d)
    assert proc.returncode == 0, proc.stderr
    new = make_demo_data(n_rows=2_500, random_state=7).drop(columns="churned")
    return d, Path(json.loads(proc.stdout)["artifact"]), new


@pytest.mark.parametrize(("out_name", "flag", "engine"), [
    ("preds.csv", "--no-compile", "fast path"),  # pipeline unpickled, trees walked on binned data
    ("preds.parquet", "--compile", "compiled model"),  # trees compiled to C, kept in the project cache
])
def test_chunked_scoring_matches_in_process_predict(trained, out_name: str, flag: str, engine: str) -> None:
    d, artifact, new = trained
    new.to_parquet(d / "new.parquet")
    proc = run_cli("score", "--model", str(artifact), "--data", "new.parquet", "--out", out_name,
                   "--chunksize", "300", "--json", "--quiet", flag, cwd=d)
    assert proc.returncode == 0, proc.stderr
    counts = json.loads(proc.stdout)
    assert (counts["rows_read"], counts["rows_scored"], counts["rows_rejected"]) == (2_500, 2_500, 0)
    assert counts["inference"].startswith(engine), counts["inference"]
    got = pd.read_csv(d / out_name) if out_name.endswith(".csv") else pd.read_parquet(d / out_name)
    model, _ = load_artifact(artifact)
    assert got["customer_id"].tolist() == new["customer_id"].tolist()  # IDs kept, row order kept
    assert got["prediction"].astype(str).tolist() == model.predict(new).astype(str).tolist()
    np.testing.assert_allclose(got.filter(like="proba_").to_numpy(), model.predict_proba(new), rtol=0, atol=1e-12)


def test_bad_rows_go_to_the_rejects_file_or_stop_with_strict(trained) -> None:
    d, artifact, new = trained
    bad = new.astype({"monthly_usage": object, "tenure_months": object})
    bad.loc[[10, 1_999], "monthly_usage"] = "lots"
    bad.loc[1_999, "tenure_months"] = "inf"
    bad.to_csv(d / "bad.csv", index=False)
    proc = run_cli("score", "--model", str(artifact), "--data", "bad.csv", "--out", "out.csv",
                   "--chunksize", "700", cwd=d)
    assert proc.returncode == 0, proc.stderr
    assert "scored 2498 of 2500 rows" in proc.stdout and "rejected 2 rows" in proc.stdout
    rejects = pd.read_csv(d / "out.rejects.csv")
    assert rejects["customer_id"].tolist() == [new.customer_id[10], new.customer_id[1_999]]
    assert rejects["reject_reason"].iloc[0] == "column 'monthly_usage': not a number ('lots')"
    assert "column 'tenure_months': infinite (inf)" in rejects["reject_reason"].iloc[1]
    assert "column 'monthly_usage': not a number ('lots')" in rejects["reject_reason"].iloc[1]
    assert len(pd.read_csv(d / "out.csv")) == 2_498

    strict = run_cli("score", "--model", str(artifact), "--data", "bad.csv", "--out", "strict.csv", "--strict", cwd=d)
    assert strict.returncode == 2 and "row 10 breaks the data contract" in strict.stderr
    assert "Traceback" not in strict.stderr
    assert not (d / "strict.csv").exists() and not list(d.glob(".strict*"))  # nothing half-written


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--data", "nope.csv", "--out", "o.csv"], "does not exist"),
        (["--data", "train.csv", "--out", "o.json"], "must end in .csv or .parquet"),
        (["--data", "train.csv", "--out", "o.csv", "--chunksize", "0"], "positive number of rows"),
        (["--data", "few.csv", "--out", "o.csv"], "missing column(s)"),
    ],
)
def test_bad_input_exits_2_with_one_sentence(trained, args: list[str], message: str) -> None:
    d, artifact, new = trained
    new.drop(columns=["tenure_months"]).head(5).to_csv(d / "few.csv", index=False)
    proc = run_cli("score", "--model", str(artifact), *args, cwd=d)
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr and "Traceback" not in proc.stderr
    assert not (d / "o.csv").exists()

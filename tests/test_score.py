"""`mlproj score`: batch predictions in chunks, in real CLI processes."""

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import run_cli

from mlproj.lifecycle.artifacts import load_artifact
from mlproj.core.io import default_mode
from mlproj.data.sources import make_demo_data


def _depth(text: str) -> int:
    "How deeply parentheses nest in `text`."
    depth = deepest = 0
    for ch in text:
        depth += (ch == "(") - (ch == ")")
        deepest = max(deepest, depth)
    return deepest


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
    assert counts["engine"] == engine and counts["inference"].startswith(f"{engine}: "), counts["inference"]
    assert _depth(counts["inference"]) <= 1, counts["inference"]  # no "(fast path (preprocessing ...))"
    assert counts["matched_by"] == ["customer_id"]
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
    assert "rows matched to the input by: customer_id (ID columns)" in proc.stdout, proc.stdout
    rejects = pd.read_csv(d / "out.rejects.csv")
    assert rejects["customer_id"].tolist() == [new.customer_id[10], new.customer_id[1_999]]
    assert rejects["reject_reason"].iloc[0] == "column 'monthly_usage': not a number ('lots')"
    assert "column 'tenure_months': infinite (inf)" in rejects["reject_reason"].iloc[1]
    assert "column 'monthly_usage': not a number ('lots')" in rejects["reject_reason"].iloc[1]
    assert len(pd.read_csv(d / "out.csv")) == 2_498
    for out in ("out.csv", "out.rejects.csv"):  # not the temporary file's private 0600
        assert (d / out).stat().st_mode & 0o777 == default_mode(), out

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
        (["--data", "typo.csv", "--out", "o.csv"], "did you mean 'tenure_month' for 'tenure_months'?"),
    ],
)
def test_bad_input_exits_2_with_one_sentence(trained, args: list[str], message: str) -> None:
    d, artifact, new = trained
    new.drop(columns=["tenure_months"]).head(5).to_csv(d / "few.csv", index=False)
    new.rename(columns={"tenure_months": "tenure_month"}).head(5).to_csv(d / "typo.csv", index=False)
    proc = run_cli("score", "--model", str(artifact), *args, cwd=d)
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr and "Traceback" not in proc.stderr
    assert not (d / "o.csv").exists()


@pytest.mark.parametrize("out_name", ["rows.csv", "rows.parquet"])
def test_without_id_columns_rows_are_matched_by_row_number(trained, out_name: str) -> None:
    "Outputs and rejects carry `row`, the input's 0-based data row, consistent across chunks."
    d, artifact, new = trained
    bad = new.drop(columns="customer_id").astype({"monthly_usage": object})
    bad.loc[[1_234, 1_400], "monthly_usage"] = "lots"  # the middle of the second and third chunks
    bad.to_csv(d / "anon.csv", index=False)
    proc = run_cli("score", "--model", str(artifact), "--data", "anon.csv", "--out", out_name,
                   "--chunksize", "700", "--json", "--quiet", cwd=d)
    assert proc.returncode == 0, proc.stderr
    counts = json.loads(proc.stdout)
    assert counts["matched_by"] == ["row"] and counts["rows_rejected"] == 2
    got = pd.read_csv(d / out_name) if out_name.endswith(".csv") else pd.read_parquet(d / out_name)
    rejects = pd.read_csv(d / counts["rejects"])
    assert rejects["row"].tolist() == [1_234, 1_400]
    assert (rejects["reject_reason"] == "column 'monthly_usage': not a number ('lots')").all()
    assert sorted([*got["row"], *rejects["row"]]) == list(range(len(new)))  # each row once, in one of them
    assert got["row"].is_monotonic_increasing and len(got) == len(new) - 2
    model, _ = load_artifact(artifact)
    ok = bad.drop(index=[1_234, 1_400]).astype({"monthly_usage": float})
    assert got["prediction"].astype(str).tolist() == model.predict(ok).astype(str).tolist()
    assert (d / out_name).stat().st_mode & 0o777 == default_mode()


def test_progress_counts_rows_and_a_small_file_shows_no_bar(trained) -> None:
    d, artifact, new = trained
    new.head(344).to_csv(d / "small.csv", index=False)  # one chunk: no bar (it showed "0it")
    small = run_cli("score", "--model", str(artifact), "--data", "small.csv", "--out", "small.out.csv", cwd=d)
    assert small.returncode == 0, small.stderr
    assert "scoring small.csv" not in small.stderr and "0it" not in small.stderr, small.stderr
    scored = next(line for line in small.stderr.splitlines() if "scored 344 of 344 rows" in line)
    assert _depth(scored) <= 1, scored  # the log line read "(fast path (preprocessing in NumPy ...))"
    stdout = small.stdout.splitlines()
    assert re.fullmatch(r"scored 344 of 344 rows with \S+ \((compiled model|fast path|scikit-learn pipeline)\): "
                        r"small.out.csv", stdout[0]), stdout
    assert stdout[1] == "rows matched to the input by: customer_id (ID columns)", stdout
    new.to_parquet(d / "big.parquet")  # Parquet: the total is exact
    big = run_cli("score", "--model", str(artifact), "--data", "big.parquet", "--out", "big.out.csv",
                  "--chunksize", "500", cwd=d)
    assert big.returncode == 0, big.stderr
    assert "scoring big.parquet" in big.stderr and "0/2500 [" in big.stderr, big.stderr
    assert "rows/s]" in big.stderr and "0it" not in big.stderr, big.stderr

"Artifact metadata across commands: an artifact without `schema_version` (every one written before it) still evaluates; one of a newer schema is refused with one line."

import json
from pathlib import Path

from conftest import run_cli

FAST = ["--cv-folds", "3", "--n-bootstrap", "20", "--quiet"]


def test_evaluate_reads_old_artifacts_and_refuses_newer_ones(tmp_path: Path) -> None:
    train = run_cli("train", "--data", "iris", "--model", "linear", "--json", "--no-track", *FAST, cwd=tmp_path)
    assert train.returncode == 0, train.stderr
    artifact = Path(json.loads(train.stdout)["artifact"])
    meta_file = artifact / "metadata.json"
    written = json.loads(meta_file.read_text())
    assert written["schema_version"] == 1 and written["task"] == "classification", written.keys()

    meta_file.write_text(json.dumps({k: v for k, v in written.items() if k != "schema_version"}))
    old = run_cli("evaluate", "--model", str(artifact), "--json", "--n-bootstrap", "0", "--no-track", "--quiet",
                  cwd=tmp_path)
    assert old.returncode == 0, old.stderr
    assert json.loads(old.stdout)["rows"] == "holdout"

    meta_file.write_text(json.dumps({**written, "schema_version": 99}))
    newer = run_cli("evaluate", "--model", str(artifact), "--no-track", "--quiet", cwd=tmp_path)
    assert newer.returncode == 2 and "Traceback" not in newer.stderr, newer.stderr
    lines = newer.stderr.strip().splitlines()
    assert len(lines) == 1 and newer.stdout == "", newer.stderr
    assert (f"{artifact} was written by a newer mlproj (schema 99 > 1); upgrade mlproj or retrain with "
            "'mlproj train'.") in lines[0], lines[0]

    meta_file.write_text(json.dumps({k: v for k, v in written.items() if k not in ("data_sha256", "target")}))
    missing = run_cli("evaluate", "--model", str(artifact), "--no-track", "--quiet", cwd=tmp_path)
    assert missing.returncode == 2 and len(missing.stderr.strip().splitlines()) == 1, missing.stderr
    assert "lacks the metadata field(s) ['data_sha256', 'target']" in missing.stderr, missing.stderr

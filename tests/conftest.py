"Shared fixtures and helpers for the cross-module tests in `tests/`."

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# MLflow tracking is exercised on its own in test_tracking.py (which turns it back on); elsewhere it
# would only add runs to throwaway stores (they share one agent).
os.environ["MLPROJ_TRACKING_ENABLED"] = "false"
# Two test files run at once (pytest-xdist); one BLAS/OpenMP thread per process keeps them from
# oversubscribing the cores. Tests that care about threads set their own.
os.environ.setdefault("MLPROJ_TRAIN_N_THREADS", "1")
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")


@pytest.fixture(scope="session")
def root() -> Path:
    "The repository root."
    return ROOT


@pytest.fixture
def mlproj_cmd() -> list[str]:
    "The command that runs the CLI with the interpreter running the tests."
    return [sys.executable, "-m", "mlproj"]


def run_cli(
    *args: str,  # CLI arguments, e.g. "report", "--model", "logreg"
    cwd: str | Path,  # Folder to run in, usually `tmp_path`
    env: Mapping[str, str] | None = None,  # Variables to set on top of `os.environ`
    timeout: float = 600,  # Seconds before the run is killed and the test fails
) -> subprocess.CompletedProcess[str]:
    "Run `python -m mlproj *args` in `cwd` and return the finished process with its text output."
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "mlproj", *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


# Long files start first. pytest-xdist (`--dist loadfile --no-loadscope-reorder`, see pyproject.toml) gives
# each of the two workers two files at the start, in collection order, then one file to whichever is
# free: test_tracking.py (about 5 minutes) gets a short file beside it, and the other worker takes the
# next two long ones. Within a file the order is kept (test_tracking.py builds one registry step by step).
FIRST = ("test_tracking.py", "test_packaging.py", "test_repo.py", "test_serve.py", "test_report.py", "test_bad_input.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {name: i for i, name in enumerate(FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))

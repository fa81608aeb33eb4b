"Build the wheel, install it into a fresh virtual environment, and run `mlproj report` outside the repository."

import os
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

from conftest import ROOT


def _run(cmd: list[str], cwd: Path, timeout: float = 600, env: dict | None = None) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)
    assert proc.returncode == 0, f"{cmd} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc


def test_wheel_installs_and_runs_outside_the_repo(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    _run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(dist), str(ROOT)], cwd=ROOT)
    wheel = next(dist.glob("mlproj-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"mlproj/templates/model.ipynb", "mlproj/datasets/penguins.csv", "mlproj/datasets/LICENSE.md",
            "mlproj/cli/main.py", "mlproj/__main__.py"} <= names
    assert not [n for n in names if n.startswith(("nbs/", "tests/"))]

    # A fresh venv with the wheel and its runtime dependencies at the pinned versions (from the package
    # index, or pip's cache on a machine that has run `make` before): what a `pip install` user gets.
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    py = env_dir / "bin" / "python"
    _run([str(py), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-c",
          str(ROOT / "constraints.txt"), str(wheel)], cwd=tmp_path, timeout=900)

    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLPROJ_")}
    env["MLPROJ_TRACKING_AGENT_IDLE"] = "0"  # track as a pip user would, with a helper that ends with the command
    where = _run([str(py), "-c", "import mlproj; print(mlproj.__file__)"], cwd=work, env=env).stdout
    assert where.startswith(str(env_dir)), where
    mlproj = env_dir / "bin" / "mlproj"
    proc = _run([str(mlproj), "report", "--data", "breast_cancer", "--model", "linear", "--cv-folds", "3",
                 "--n-bootstrap", "20", "--quiet"], cwd=work, env=env)
    html = Path(proc.stdout.strip().removeprefix("report: "))
    assert html.is_file() and html.is_relative_to(work / "reports" / "model")
    assert (work / "reports" / "model" / "latest" / "metrics.json").is_file()
    assert (work / "mlruns.db").is_file() and (work / "mlartifacts").is_dir()  # tracked in the project's store
    assert _run([str(py), "-m", "mlproj", "--version"], cwd=work, env=env).stdout.startswith("mlproj ")

"Run each numbered notebook in `nbs/` as one test, the way `nbdev-test` does (STYLE.md section 8)."

from pathlib import Path

import pytest
from conftest import ROOT
from nbdev.config import get_config
from nbdev.test import test_nb as run_notebook  # renamed so pytest does not collect it

NOTEBOOKS = sorted([*(ROOT / "nbs").rglob("[0-9]*.ipynb"), *(ROOT / "nbs" / "tutorials").glob("*.ipynb")])  # modules, and lessons


@pytest.fixture
def notebook_env(monkeypatch: pytest.MonkeyPatch) -> None:
    "Headless plots, quiet output, and the `nbs/` folder as working directory."
    monkeypatch.setenv("MPLBACKEND", "Agg")  # read when matplotlib is first imported
    monkeypatch.setenv("MLPROJ_QUIET", "1")
    monkeypatch.chdir(ROOT / "nbs")


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=[nb.relative_to(ROOT / "nbs").with_suffix("").as_posix() for nb in NOTEBOOKS])
def test_notebook(nb: Path, notebook_env: None) -> None:
    cfg = get_config(ROOT)
    flags = cfg.tst_flags
    skip_flags = flags.split() if isinstance(flags, str) else list(flags or [])
    ok, seconds = run_notebook(
        nb, skip_flags=skip_flags, basepath=ROOT, cell_timeout=cfg.cell_timeout or None
    )
    assert ok, f"{nb.name} failed after {seconds:.1f}s; its traceback is under 'Captured stderr call'"


SLOW = [nb for nb in NOTEBOOKS if "#| slow" in nb.read_text(encoding="utf-8")]


@pytest.mark.parametrize("nb", SLOW, ids=[nb.relative_to(ROOT / "nbs").with_suffix("").as_posix() for nb in SLOW])
def test_notebook_with_slow_cells(nb: Path, notebook_env: None) -> None:
    "The `#| slow` cells (kernels, whole reports) are skipped above, as `nbdev-test` does; here they run too."
    assert SLOW, "no notebook has #| slow cells; drop this test"
    ok, seconds = run_notebook(nb, skip_flags=[], basepath=ROOT, cell_timeout=get_config(ROOT).cell_timeout or None)
    assert ok, f"{nb.name} (slow cells included) failed after {seconds:.1f}s; see 'Captured stderr call'"

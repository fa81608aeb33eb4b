"""Tracking overhead: `mlproj train` recorded in MLflow (run, model, registration) against `--no-track`.

    .venv/bin/python benchmarks/tracking.py [--repeats 5] [--threads 2] [--keep]

Target (issue 4): the tracked run takes at most max(1.0 s, 10%) longer than the untracked one, medians of
`--repeats` interleaved pairs on the same data, each command a fresh `mlproj` process. Two data sets: the
50,000-row demo CSV of benchmarks/run.py and the embedded penguins (344 rows, the default job).

The tracked runs use the project's default store (SQLite + artifact folder inside the temporary project)
and register every model. MLflow's imports cost seconds, so tracked commands hand their MLflow work to
the tracking agent (see `mlproj.tracking`); one discarded warm-up pair per data set starts it, and the
cold first run (agent started from nothing) is measured separately and reported beside the medians.
Results go to benchmarks/results-tracking.json; a Markdown table is printed on stdout.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.dont_write_bytecode = True

from run import MLPROJ, log, machine_info, make_env, prepare, run, stats  # noqa: E402


def stop_agent(tmp: Path) -> None:
    from mlproj.core import load_settings
    from mlproj.tracking import stop_agent as stop

    if stop(load_settings(tmp / "settings.ini", env={})):
        time.sleep(2)  # let it exit


def bench(tmp: Path, name: str, data: list[str], threads: int, repeats: int) -> dict:
    env = make_env(tmp, threads, MLPROJ_TRACKING_ENABLED="true")
    base = [str(MLPROJ), "train", *data, "--model", "hgb", "--no-cache", "--json", "--quiet"]
    tracked, untracked = base + ["--register", f"bench-{name}"], base + ["--no-track"]
    stop_agent(tmp)
    cold, out = run(tracked, env, tmp)  # starts the agent: MLflow's imports while training
    assert json.loads(out)["tracking"]["version"], out
    log(f"{name}: cold tracked run (agent started) {cold:.2f}s")
    run(untracked, env, tmp)
    on, off = [], []
    for i in range(repeats):
        wall, out = run(tracked, env, tmp)
        on.append(wall)
        assert json.loads(out)["tracking"]["run_id"]
        off.append(run(untracked, env, tmp)[0])
        log(f"{name} repeat {i + 1}/{repeats}: tracked {on[-1]:.2f}s, --no-track {off[-1]:.2f}s")
    m_on, m_off = statistics.median(on), statistics.median(off)
    allowed = max(1.0, 0.10 * m_off)
    return {"data": name, "threads": threads, "tracked": stats(on), "no_track": stats(off),
            "overhead_s": round(m_on - m_off, 3), "allowed_s": round(allowed, 3),
            "ratio": round(m_on / m_off, 3), "met": m_on - m_off <= allowed, "cold_tracked_s": round(cold, 3),
            "commands": {"tracked": " ".join(tracked), "no_track": " ".join(untracked)}}


def markdown(res: dict) -> str:
    rows = ["| data | `--no-track` median | tracked median | overhead | allowed | met | cold first tracked run |",
            "|---|---|---|---|---|---|---|"]
    for r in res["results"]:
        rows.append(f"| {r['data']} ({r['threads']} thread(s), median of {len(r['tracked']['runs'])}) | "
                    f"{r['no_track']['median']:.2f} s | {r['tracked']['median']:.2f} s | "
                    f"**{r['overhead_s']:+.2f} s** ({r['ratio']:.2f}x) | {r['allowed_s']:.2f} s | "
                    f"{'met' if r['met'] else 'NOT met'} | {r['cold_tracked_s']:.2f} s |")
    return "\n".join(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=5, help="interleaved pairs per data set (default 5)")
    ap.add_argument("--threads", type=int, default=2, help="fitting threads (default 2)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder")
    ap.add_argument("--out", default=str(HERE / "results-tracking.json"), help="results file")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="mlproj-bench-tracking-"))
    try:
        csv = prepare(tmp)
        results = [
            bench(tmp, "churn-50k", ["--data", str(csv), "--target", "churned"], args.threads, args.repeats),
            bench(tmp, "penguins", ["--data", "penguins"], args.threads, args.repeats),
        ]
        stop_agent(tmp)
        res = {"when": datetime.now(timezone.utc).isoformat(timespec="seconds"), "machine": machine_info(),
               "results": results}
        Path(args.out).write_text(json.dumps(res, indent=2) + "\n")
        print(markdown(res))
    finally:
        if args.keep:
            log(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()

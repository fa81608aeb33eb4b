"""Tracking overhead: `mlproj train` recorded in MLflow (run, model, registration) against `--no-track`.

    .venv/bin/python benchmarks/tracking.py [--repeats 5] [--threads 2] [--keep]
    .venv/bin/python benchmarks/tracking.py --memory-only [--projects 3]   # the agents' memory alone

Target (issue 4): the tracked run takes at most max(1.0 s, 10%) longer than the untracked one, medians of
`--repeats` interleaved pairs on the same data, each command a fresh `mlproj` process. Two data sets: the
50,000-row demo CSV of benchmarks/run.py and the embedded penguins (344 rows, the default job).

The tracked runs use the project's default store (SQLite + artifact folder inside the temporary project)
and register every model. MLflow's imports cost seconds, so tracked commands hand their MLflow work to
the tracking agent (see `mlproj.lifecycle.tracking`); one discarded warm-up pair per data set starts it, and the
cold first run (agent started from nothing) is measured separately and reported beside the medians.
Results go to benchmarks/results-tracking.json; a Markdown table is printed on stdout.

Memory (issue 11): one tracked `mlproj train --data penguins --model dummy` in each of `--projects` project
folders (each with its own settings.ini, SQLite store and artifact folder), one after the other, then the
resident memory (RSS, from /proc) of every tracking agent left running, as a user sees it after a few
commands in different folders. The agents' sockets go to a private folder of the benchmark (TMPDIR and
XDG_RUNTIME_DIR point there), so agents of other sessions are neither counted nor stopped.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
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
    from mlproj.core.settings import load_settings
    from mlproj.lifecycle.tracking import stop_agent as stop

    if stop(load_settings(tmp / "settings.ini", env={})):
        time.sleep(2)  # let it exit


def agents(folder: Path) -> list[dict]:
    "The tracking agents whose socket lies under `folder` (their command line names it): pid and RSS in MiB."
    out = []
    for p in Path("/proc").iterdir():
        try:
            cmd = (p / "cmdline").read_bytes().replace(b"\0", b" ").decode() if p.name.isdigit() else ""
            if "mlproj.lifecycle.agent serve " not in cmd or str(folder) not in cmd:
                continue
            status = (p / "status").read_text().splitlines()
        except OSError:  # ended meanwhile
            continue
        kib = next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))
        out.append({"pid": int(p.name), "rss_mib": round(kib / 1024, 1)})
    return sorted(out, key=lambda a: a["pid"])


def stop_agents(folder: Path) -> None:
    "Ask every agent with a socket under `folder` to stop; SIGTERM (by pid) the ones still there 30 s later."
    for sock in folder.rglob("agent-*.sock"):
        try:
            with socket.socket(socket.AF_UNIX) as c:
                c.connect(str(sock))
                c.sendall(b'{"op": "stop"}\n')
                c.recv(100)
        except OSError:
            pass
    deadline = time.monotonic() + 30
    while agents(folder) and time.monotonic() < deadline:
        time.sleep(0.2)
    for a in agents(folder):
        os.kill(a["pid"], 15)


def bench_memory(tmp: Path, n_projects: int, threads: int) -> dict:
    "RSS of the tracking agents left after one tracked train in each of `n_projects` project folders."
    run_dir = tmp / "run"
    run_dir.mkdir(mode=0o700)
    env = {k: v for k, v in make_env(tmp, threads, MLPROJ_TRACKING_ENABLED="true").items() if k != "MLPROJ_SETTINGS"}
    env.update(TMPDIR=str(run_dir), XDG_RUNTIME_DIR=str(run_dir))
    cmd = [str(MLPROJ), "train", "--data", "penguins", "--model", "dummy", "--no-cache", "--json", "--quiet"]
    after_each, walls = [], []
    try:
        for i in range(n_projects):
            project = tmp / f"project-{i + 1}"
            project.mkdir()
            (project / "settings.ini").write_text("[tracking]\nagent_idle = 600\n")
            wall, out = run(cmd, env, project)
            walls.append(wall)
            assert json.loads(out)["tracking"]["run_id"], out
            assert (project / "mlruns.db").is_file()
            after_each.append(agents(run_dir))
            log(f"memory: project {i + 1}: {wall:.2f}s; agents (pid: RSS MiB) "
                f"{[(a['pid'], a['rss_mib']) for a in after_each[-1]]}")
        time.sleep(2)
        final = agents(run_dir)
    finally:
        stop_agents(run_dir)
    return {"projects": n_projects, "command": " ".join(cmd[1:]), "walls_s": [round(w, 3) for w in walls],
            "agents_after_each": after_each, "agents": len(final),
            "rss_mib": [a["rss_mib"] for a in final], "total_rss_mib": round(sum(a["rss_mib"] for a in final), 1)}


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


def markdown_memory(m: dict) -> str:
    return (f"| {m['projects']} project folders, `mlproj {m['command']}` in each | {m['agents']} | "
            f"{', '.join(f'{r:.0f}' for r in m['rss_mib'])} MiB | **{m['total_rss_mib']:.0f} MiB** |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=5, help="interleaved pairs per data set (default 5)")
    ap.add_argument("--threads", type=int, default=2, help="fitting threads (default 2)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder")
    ap.add_argument("--projects", type=int, default=3, help="project folders for the memory figure (default 3)")
    ap.add_argument("--memory-only", action="store_true", help="measure only the agents' memory")
    ap.add_argument("--out", default=str(HERE / "results-tracking.json"), help="results file")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="mlproj-bench-tracking-"))
    try:
        memory = bench_memory(tmp, args.projects, args.threads)
        print("| commands | agents left | RSS of each | total |\n|---|---|---|---|\n" + markdown_memory(memory))
        if args.memory_only:  # keep the overhead figures of the last full run
            out = Path(args.out)
            res = json.loads(out.read_text()) if out.is_file() else {}
            res["memory"] = {"when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                             "machine": machine_info(), **memory}
            out.write_text(json.dumps(res, indent=2) + "\n")
            return
        csv = prepare(tmp)
        results = [
            bench(tmp, "churn-50k", ["--data", str(csv), "--target", "churned"], args.threads, args.repeats),
            bench(tmp, "penguins", ["--data", "penguins"], args.threads, args.repeats),
        ]
        stop_agent(tmp)
        res = {"when": datetime.now(timezone.utc).isoformat(timespec="seconds"), "machine": machine_info(),
               "results": results, "memory": memory}
        Path(args.out).write_text(json.dumps(res, indent=2) + "\n")
        print(markdown(res))
    finally:
        if args.keep:
            log(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()

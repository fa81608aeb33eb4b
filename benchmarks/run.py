"""Performance benchmarks of mlproj against the targets of the project's issue, all in one run.

    .venv/bin/python benchmarks/run.py [--quick] [--repeats N] [--threads 1,2] [--keep]

Measures (see benchmarks/README.md for what and why):
1. `mlproj train` on a 50,000-row CSV against the hand-written scikit-learn script
   benchmarks/bare_sklearn.py doing the same fit, both as subprocesses, interleaved, threads pinned.
2. Start-up: `mlproj --help`, `python -c "import mlproj"` and the floor `python -c pass`.
3. `mlproj report` on the same CSV twice with a fresh cache (cold, then cached), with the step
   breakdown from each run's timings.json, and the default `mlproj report` (penguins) once.
Plus one in-process diagnostic run (benchmarks/diagnose_train.py) telling where train's time goes.

Everything is written under a temporary folder (its own settings.ini, cache, models and reports);
the results go to benchmarks/results.json and a Markdown table is printed on stdout.
Uses only the standard library, numpy/pandas/scikit-learn and mlproj itself (for the demo data).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
PY = Path(sys.executable)  # the venv's python: run this script with .venv/bin/python
MLPROJ = PY.parent / "mlproj"  # the venv's console script
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
TARGETS = {"train_ratio": 1.25, "help_s": 0.3, "import_s": 0.2, "report_cache_ratio": 1 / 3}
N_ROWS = 50_000


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def make_env(tmp: Path, threads: int, **extra: str) -> dict[str, str]:
    "The environment of every measured command: our settings.ini, threads pinned, no stray MLPROJ_* variables."
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLPROJ_")}
    env["MLPROJ_SETTINGS"] = str(tmp / "settings.ini")
    env["MLPROJ_TRAIN_N_THREADS"] = str(threads)
    env["MLPROJ_TRACKING_ENABLED"] = "false"  # the bare script tracks nothing; tracking: benchmarks/tracking.py
    for var in THREAD_VARS:
        env[var] = str(threads)
    env.update(extra)
    return env


def busy_cpu_seconds() -> float:
    "CPU seconds the whole machine has spent busy since boot (all processes, from /proc/stat)."
    try:
        f = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    except OSError:
        return 0.0
    user, nice, system, idle, iowait, irq, softirq, steal = (int(x) for x in f[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def children_cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


CONTENTION = {"idle_below_cores": 0.25, "max_wait_s": 20.0, "waited_s": 0.0, "foreign_core_s": []}


def wait_until_idle() -> None:
    "Wait (up to CONTENTION['max_wait_s']) until other processes use less than `idle_below_cores` cores."
    deadline = time.perf_counter() + CONTENTION["max_wait_s"]
    while True:
        b0, t0 = busy_cpu_seconds(), time.perf_counter()
        time.sleep(0.5)
        busy = (busy_cpu_seconds() - b0) / (time.perf_counter() - t0)
        if busy < CONTENTION["idle_below_cores"] or time.perf_counter() > deadline:
            return
        CONTENTION["waited_s"] += 0.5


def run(cmd: list[str], env: dict[str, str], cwd: Path) -> tuple[float, str]:
    """Run `cmd`, return (wall seconds, stdout); raise with the stderr tail if it fails.

    Waits briefly for a quiet machine first, and records how many cores *other* processes kept busy
    during the run (machine busy CPU time minus our children's CPU time, per wall second)."""
    wait_until_idle()
    b0, c0 = busy_cpu_seconds(), children_cpu_seconds()
    t = time.perf_counter()
    p = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True)
    wall = time.perf_counter() - t
    foreign = max(0.0, (busy_cpu_seconds() - b0) - (children_cpu_seconds() - c0))
    CONTENTION["foreign_core_s"].append((" ".join(map(str, cmd[:3])), round(wall, 3), round(foreign / wall, 3)))
    if p.returncode:
        raise RuntimeError(f"{' '.join(map(str, cmd))} exited {p.returncode}:\n{p.stderr[-3000:]}")
    return wall, p.stdout


def stats(values: list[float]) -> dict:
    return {"median": round(statistics.median(values), 4), "min": round(min(values), 4),
            "max": round(max(values), 4), "runs": [round(v, 4) for v in values]}


def machine_info() -> dict:
    import numpy
    import pandas
    import sklearn
    import sklearn.ensemble  # noqa: F401  (loads scikit-learn's OpenMP runtime, so threadpoolctl sees it)
    from threadpoolctl import threadpool_info

    import mlproj

    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() else ""
    git = {}
    for key, args in {"commit": ["rev-parse", "HEAD"], "status": ["status", "--porcelain"]}.items():
        p = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True)
        git[key] = p.stdout.strip() if key == "commit" else bool(p.stdout.strip())
    return {
        "nproc": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "cpu_count": os.cpu_count(), "cpu": cpu, "platform": platform.platform(),
        "python": platform.python_version(), "python_executable": str(PY),
        "versions": {"mlproj": mlproj.__version__, "scikit-learn": sklearn.__version__, "numpy": numpy.__version__,
                     "pandas": pandas.__version__},
        "threadpoolctl": [{k: d.get(k) for k in ("user_api", "internal_api", "prefix", "version",
                                                   "threading_layer", "architecture", "num_threads")}
                          for d in threadpool_info()],
        "env": {k: os.environ.get(k) for k in ("OPENBLAS_CORETYPE", "PYTHONDONTWRITEBYTECODE", *THREAD_VARS)},
        "loadavg_at_start": os.getloadavg(),
        "git": {"commit": git["commit"], "dirty_worktree": git["status"]},
    }


def prepare(tmp: Path) -> Path:
    "Write the 50,000-row demo CSV and a settings.ini that keeps every output inside `tmp`."
    import warnings

    from mlproj.data.contracts import infer_column_types
    from mlproj.data.sources import load_data, make_demo_data

    csv = tmp / "churn.csv"
    make_demo_data(n_rows=N_ROWS, random_state=0).to_csv(csv, index=False)
    (tmp / "settings.ini").write_text("[train]\ncache_dir = cache\nmodels_dir = models\n"
                                      "[report]\nout_dir = reports\n")
    # The bare script hard-codes the column lists; check they are what mlproj infers from this CSV.
    sys.path.insert(0, str(HERE))
    sys.dont_write_bytecode = True  # leave no __pycache__ in benchmarks/
    import bare_sklearn

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        types = infer_column_types(load_data(csv).drop(columns="churned"))
    mirror = (types.numeric == bare_sklearn.NUMERIC and types.categorical == bare_sklearn.CATEGORICAL
              and types.boolean == bare_sklearn.BOOLEAN and types.datetime == bare_sklearn.DATES
              and sorted(types.dropped) == sorted(bare_sklearn.DROP))
    if not mirror:
        raise SystemExit(f"benchmarks/bare_sklearn.py no longer mirrors mlproj's column inference: {types}; "
                         f"update its column lists.")
    return csv


def bench_startup(tmp: Path, runs: int) -> dict:
    env = make_env(tmp, 1)
    cmds = {"python_pass": [str(PY), "-c", "pass"], "import_mlproj": [str(PY), "-c", "import mlproj"],
            "mlproj_help": [str(MLPROJ), "--help"]}
    times = {k: [] for k in cmds}
    for c in cmds.values():  # one warm-up each (page cache)
        run(c, env, tmp)
    for _ in range(runs):  # interleaved
        for k, c in cmds.items():
            times[k].append(run(c, env, tmp)[0])
    return {k: {**stats(v), "command": " ".join(cmds[k])} for k, v in times.items()}


# Imports that the commands pay before any work (diagnostic, not targets): what `mlproj train` and the
# bare script need (scikit-learn), and what the `mlproj report` parent process needs (papermill, whose
# nbformat -> jsonschema import pulls in rfc3987_syntax, which compiles its grammars at import time).
IMPORT_PROBES = ["mlproj.cli", "sklearn.ensemble", "mlproj.workflows.pipeline", "papermill", "rfc3987_syntax", "nbconvert",
                 "mlproj.reporting.report", "matplotlib.pyplot", "seaborn"]


def bench_imports(tmp: Path, runs: int) -> dict:
    env = make_env(tmp, 1)
    out = {}
    for mod in IMPORT_PROBES:
        cmd = [str(PY), "-c", f"import {mod}"]
        try:
            run(cmd, env, tmp)
        except RuntimeError:
            out[mod] = None  # not installed
            continue
        out[mod] = stats([run(cmd, env, tmp)[0] for _ in range(runs)])
    return out


def bench_train(tmp: Path, csv: Path, threads: int, repeats: int, warmup: bool) -> dict:
    env = make_env(tmp, threads)
    a = [str(MLPROJ), "train", "--data", str(csv), "--target", "churned", "--model", "hgb", "--no-cache", "--json",
         "--quiet"]
    bare_out = tmp / "bare"
    bare_out.mkdir(exist_ok=True)
    b = [str(PY), str(HERE / "bare_sklearn.py"), str(csv), str(bare_out)]
    if warmup:
        log(f"train warm-up pair ({threads} thread(s))")
        run(a, env, tmp), run(b, env, tmp)
    ta, tb, aucs, bare_steps = [], [], set(), []
    for i in range(repeats):
        wall, out = run(a, env, tmp)
        ta.append(wall)
        aucs.add(round(json.loads(out)["metrics"]["roc_auc"], 12))
        wall, out = run(b, env, tmp)
        tb.append(wall)
        bare = json.loads(out)
        aucs.add(round(bare["holdout"]["roc_auc"], 12))
        bare_steps.append(bare["timings"])
        log(f"train {threads} thread(s) repeat {i + 1}/{repeats}: mlproj {ta[-1]:.2f}s, bare {tb[-1]:.2f}s")
    ma, mb = statistics.median(ta), statistics.median(tb)
    return {"threads": threads, "mlproj": stats(ta), "bare": stats(tb), "ratio": round(ma / mb, 3),
            "target": TARGETS["train_ratio"], "met": ma / mb <= TARGETS["train_ratio"],
            "same_holdout_roc_auc": len(aucs) == 1, "holdout_roc_auc": sorted(aucs),
            "bare_steps_median": {k: round(statistics.median(s[k] for s in bare_steps), 4) for k in bare_steps[0]},
            "commands": {"mlproj": " ".join(a), "bare": " ".join(b)},
            "env": {k: env[k] for k in ("MLPROJ_TRAIN_N_THREADS", *THREAD_VARS)}}


def report_once(tmp: Path, env: dict[str, str], args: list[str]) -> dict:
    cmd = [str(MLPROJ), "report", *args, "--quiet"]
    wall, out = run(cmd, env, tmp)
    html = next(line[len("report: "):].strip() for line in out.splitlines() if line.startswith("report: "))
    timings = json.loads((Path(html).parent / "timings.json").read_text())
    outside = wall - timings.get("execute_total", 0) - timings.get("html_export", 0)
    return {"wall": round(wall, 4), "timings": timings, "outside_papermill": round(outside, 4),
            "command": " ".join(cmd), "html": html}


def bench_report(tmp: Path, csv: Path, threads: int) -> dict:
    env = make_env(tmp, threads, MLPROJ_TRAIN_CACHE_DIR=str(tmp / "cache-report"))  # fresh, empty cache
    first = report_once(tmp, env, ["--data", str(csv), "--target", "churned"])
    log(f"report 50k first run {first['wall']:.2f}s")
    second = report_once(tmp, env, ["--data", str(csv), "--target", "churned"])
    log(f"report 50k second (cached) run {second['wall']:.2f}s")
    # --no-cache re-executes the notebook; only the train step's joblib cache is reused.
    third = report_once(tmp, env, ["--data", str(csv), "--target", "churned", "--no-cache"])
    log(f"report 50k third run, --no-cache (train cache only) {third['wall']:.2f}s")
    penv = make_env(tmp, threads, MLPROJ_TRAIN_CACHE_DIR=str(tmp / "cache-penguins"))
    penguins = report_once(tmp, penv, [])
    log(f"report penguins {penguins['wall']:.2f}s")
    ratio = second["wall"] / first["wall"]
    return {"threads": threads, "first": first, "second": second, "third_no_cache": third,
            "ratio_second_first": round(ratio, 3), "ratio_third_first": round(third["wall"] / first["wall"], 3),
            "target": round(TARGETS["report_cache_ratio"], 4), "met": ratio <= TARGETS["report_cache_ratio"],
            "penguins": penguins}


def diagnose(tmp: Path, csv: Path, threads: int) -> dict:
    env = make_env(tmp, threads, MLPROJ_QUIET="1")
    wall, out = run([str(PY), str(HERE / "diagnose_train.py"), str(csv), "churned"], env, tmp)
    return {"threads": threads, "wall": round(wall, 4), **json.loads(out)}


def markdown(res: dict) -> str:
    ok = lambda met: "met" if met else "**MISSED**"  # noqa: E731
    rows = ["| benchmark | measured | target | status |", "| --- | --- | --- | --- |"]
    for t in res["train"]:
        rows.append(f"| `mlproj train` vs bare sklearn, 50k rows, {t['threads']} thread(s) "
                    f"(median of {len(t['mlproj']['runs'])}) | mlproj {t['mlproj']['median']:.2f} s / "
                    f"bare {t['bare']['median']:.2f} s = **{t['ratio']:.2f}x** | <= {t['target']}x | {ok(t['met'])} |")
    s = res["startup"]
    rows.append(f"| `mlproj --help` (median of {len(s['mlproj_help']['runs'])}) | {s['mlproj_help']['median']:.3f} s "
                f"| <= {TARGETS['help_s']} s | {ok(s['mlproj_help']['median'] <= TARGETS['help_s'])} |")
    rows.append(f"| `python -c \"import mlproj\"` | {s['import_mlproj']['median']:.3f} s | <= {TARGETS['import_s']} s "
                f"| {ok(s['import_mlproj']['median'] <= TARGETS['import_s'])} |")
    rows.append(f"| `python -c pass` (floor) | {s['python_pass']['median']:.3f} s | - | - |")
    r = res["report"]
    rows.append(f"| `mlproj report` 50k rows, cold cache then cached | {r['first']['wall']:.2f} s then "
                f"{r['second']['wall']:.2f} s = **{r['ratio_second_first']:.2f}x** | <= 0.33x | {ok(r['met'])} |")
    rows.append(f"| `mlproj report --no-cache` 50k rows (re-executed; train step from its cache) | "
                f"{r['third_no_cache']['wall']:.2f} s = {r['ratio_third_first']:.2f}x of the first | - | - |")
    rows.append(f"| `mlproj report` (penguins, default) end to end | {r['penguins']['wall']:.2f} s | - | - |")
    out = ["\n".join(rows)]
    keys = ["kernel_start", "setup", "train", "tables", "plot", "write", "other", "execute_total", "html_export"]
    b = ["| report step (s, timings.json) | " + " | ".join(keys) + " | outside papermill | wall |",
         "| --- |" + " --- |" * (len(keys) + 2)]
    for name, run_ in [("50k, first (cold cache)", r["first"]), ("50k, second (cached)", r["second"]),
                       ("50k, third (--no-cache, train cache hit)", r["third_no_cache"]),
                       ("penguins", r["penguins"])]:
        if "reused_from" in run_["timings"]:  # outputs copied from an identical earlier run: no notebook executed
            b.append(f"| {name} | " + " | ".join("-" for _ in keys)
                     + f" | reused run {run_['timings']['reused_from']} (copy {run_['timings']['reuse_total']:.2f} s) "
                       f"| {run_['wall']:.2f} |")
            continue
        b.append(f"| {name} | " + " | ".join(f"{run_['timings'].get(k, float('nan')):.2f}" for k in keys)
                 + f" | {run_['outside_papermill']:.2f} | {run_['wall']:.2f} |")
    b.append("\n`outside papermill` = wall - execute_total - html_export: the parent `mlproj report` process "
             "(interpreter, imports of papermill/nbformat/nbconvert, parameter checks that load the data and "
             "import scikit-learn). `execute_total` - sum of steps = kernel shutdown and papermill bookkeeping.")
    out.append("\n".join(b))
    imp = res.get("imports") or {}
    if imp:
        out.append("| `python -c \"import X\"` (median s) | " + " | ".join(f"`{k}`" for k in imp) + " |\n"
                   + "| --- |" + " --- |" * len(imp) + "\n| time | "
                   + " | ".join("n/a" if v is None else f"{v['median']:.2f}" for v in imp.values()) + " |")
    if res.get("diagnosis"):
        d = res["diagnosis"]
        t = d["train_timings"]
        steps = ["prepare", "cross_validate", "fit", "holdout", "importance", "total"]
        bare = res["train"][0]["bare_steps_median"]
        bare_total = sum(v for k, v in bare.items() if k != "imports")
        lines = [f"| `train()` in-process, {d['threads']} thread(s) | " + " | ".join(steps) + " |",
                 "| --- |" + " --- |" * len(steps),
                 "| mlproj `TrainResult.timings` (s) | " + " | ".join(f"{t[k]:.2f}" for k in steps) + " |",
                 "| bare script, nearest steps (s, median of its runs) | "
                 + " | ".join([f"{bare['read_split']:.2f} (incl. CSV read)", f"{bare['cross_validate']:.2f}",
                               f"{bare['fit']:.2f}", f"{bare['holdout']:.2f} (no CIs)", "- (none)",
                               f"{bare_total:.2f} (+ dump {bare['dump']:.2f})"]) + " |"]
        i = d["inside"]
        lines.append(f"\nmlproj-only work inside those steps: baseline CV {i['baseline_cv']:.2f} s; bootstrap CIs "
                     f"{i['bootstrap_one_model']:.2f} s per model, done for model and baseline "
                     f"({1000 * i['bootstrap_one_resample']:.1f} ms per resample); permutation importance "
                     f"{i['permutation_importance']:.2f} s (a 2,000-row predict: preprocessing "
                     f"{1000 * i['predict_2000_rows_preprocess']:.0f} ms + model "
                     f"{1000 * i['predict_2000_rows_model']:.0f} ms). Outside `timings`: resolve_inputs "
                     f"{d['around']['resolve_inputs']:.2f} s, save_artifact {d['around']['save_artifact']:.2f} s. "
                     f"Imports up to scikit-learn {d['imports']['up_to_sklearn.ensemble']:.2f} s in-process "
                     f"(bare script: {bare['imports']:.2f} s).")
        out.append("\n".join(lines))
    return "\n\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="2 train repeats, 5 start-up runs, no warm-up pair")
    ap.add_argument("--repeats", type=int, help="train repeats per thread count (default 5, --quick 2)")
    ap.add_argument("--threads", default="1,2", help="thread counts for the train comparison (default 1,2; "
                                                    "counts above nproc are skipped)")
    ap.add_argument("--startup-runs", type=int, help="runs per start-up command (default 10, --quick 5)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder")
    ap.add_argument("--out", default=str(HERE / "results.json"), help="results file")
    args = ap.parse_args()
    repeats = args.repeats or (2 if args.quick else 5)
    startup_runs = args.startup_runs or (5 if args.quick else 10)
    t_all = time.perf_counter()
    machine = machine_info()
    threads = [n for n in map(int, args.threads.split(",")) if n <= machine["nproc"]] or [1]
    tmp = Path(tempfile.mkdtemp(prefix="mlproj-bench-"))
    try:
        log(f"working in {tmp}; writing the {N_ROWS}-row CSV")
        csv = prepare(tmp)
        log("start-up")
        startup = bench_startup(tmp, startup_runs)
        imports = bench_imports(tmp, 1 if args.quick else 3)
        train = [bench_train(tmp, csv, n, repeats, warmup=(i == 0 and not args.quick)) for i, n in enumerate(threads)]
        log("report")
        report = bench_report(tmp, csv, threads[0])
        log("diagnostic in-process train")
        diagnosis = diagnose(tmp, csv, threads[0])
    finally:
        if args.keep:
            log(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    res = {"created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
           "args": {"quick": args.quick, "repeats": repeats, "startup_runs": startup_runs, "threads": threads},
           "machine": machine, "n_rows": N_ROWS, "targets": TARGETS, "startup": startup, "imports": imports, "train": train,
           "report": report, "diagnosis": diagnosis, "benchmark_wall_s": round(time.perf_counter() - t_all, 1)}
    fc = [c for _, _, c in CONTENTION["foreign_core_s"]]
    res["contention"] = {"note": "cores kept busy by processes other than the benchmark's own children, per run "
                                 "(0 = quiet machine); runs wait up to max_wait_s for a quiet machine first",
                         "idle_below_cores": CONTENTION["idle_below_cores"], "max_wait_s": CONTENTION["max_wait_s"],
                         "waited_s": CONTENTION["waited_s"], "max_foreign_cores": max(fc, default=0.0),
                         "median_foreign_cores": statistics.median(fc) if fc else 0.0,
                         "runs": CONTENTION["foreign_core_s"]}
    res["table"] = markdown(res)
    Path(args.out).write_text(json.dumps(res, indent=2) + "\n")
    log(f"wrote {args.out} after {res['benchmark_wall_s']:.0f} s")
    print(f"Threads pinned identically for both sides: {', '.join(THREAD_VARS)} and MLPROJ_TRAIN_N_THREADS = the "
          f"thread count shown (reports and diagnosis: {threads[0]}). OPENBLAS_CORETYPE="
          f"{machine['env']['OPENBLAS_CORETYPE'] or '(unset)'}. nproc={machine['nproc']}, Python {machine['python']}, "
          f"scikit-learn {machine['versions']['scikit-learn']}. Other processes' load during the runs: median "
          f"{res['contention']['median_foreign_cores']:.2f}, max {res['contention']['max_foreign_cores']:.2f} cores "
          f"(waited {res['contention']['waited_s']:.0f} s for a quiet machine).\n")
    print(res["table"])


if __name__ == "__main__":
    main()

"""Serving: `mlproj serve` against `mlflow models serve` of the same registered model, and a no-op ceiling.

    .venv/bin/python benchmarks/serve.py [--workers 1] [--requests 2000] [--duration 10] [--keep]

Targets (issue 5, measured side by side in one run on the same model and machine): single-row latency p50
of `mlproj serve` at most half of MLflow's, over >= 1,000 sequential requests on one keep-alive connection;
throughput with 8 concurrent connections from `wrk` (not Python) at least 3x MLflow's. A no-op FastAPI
endpoint on uvicorn (benchmarks/noop_app.py) with the same worker count is the ceiling; our throughput is
also reported as a fraction of it.

The model: `hgb` trained with tracking on in a fresh temporary project (its own settings.ini, passed as
MLPROJ_SETTINGS) on demo data, so it is `mlproj-model` version 1, alias `champion`, in the project's SQLite
store. Payloads are holdout rows of that data, one row per request, cycling through `--rows` of them.
Servers, each started on 127.0.0.1 on a free port and stopped (SIGTERM, then SIGKILL) before the next:
`mlflow models serve -m models:/mlproj-model@champion --env-manager local` (/invocations),
`mlproj serve --model mlproj-model@champion` (/predict with the bare record, /invocations with MLflow's
`dataframe_records`) and the no-op app (/noop). Needs `wrk` (`apt-get install wrk`); exits 2 without it.
Results: benchmarks/results-serve.json; a Markdown table on stdout, progress on stderr.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.dont_write_bytecode = True

from run import MLPROJ, PY, THREAD_VARS, busy_cpu_seconds, log, machine_info  # noqa: E402

MODEL = "mlproj-model"
TARGET_P50_RATIO = 0.5  # our p50 / MLflow's p50 at most this
TARGET_RPS_RATIO = 3.0  # our req/s / MLflow's req/s at least this
HEADERS = {"Content-Type": "application/json"}
WRK_MISSING = ("serve.py: `wrk` (the HTTP load generator) is not on PATH. Install it with\n"
               "    apt-get install -y wrk        (Debian/Ubuntu; as root, or with sudo)\n"
               "and run this benchmark again.")


# ---------------------------------------------------------------- set-up

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def base_env(tmp: Path, threads: int | None) -> dict[str, str]:
    "Environment of every server: our settings.ini, tracking on, no stray MLPROJ_*/MLflow worker variables."
    drop = ("MLPROJ_", "MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "MLFLOW_MODELS_WORKERS", "MLFLOW_WORKERS")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    env.update(MLPROJ_SETTINGS=str(tmp / "settings.ini"), MLPROJ_TRACKING_ENABLED="true",
               MLPROJ_TRACKING_AGENT_IDLE="0", MLFLOW_DISABLE_TELEMETRY="true",
               # `mlflow models serve` runs `uvicorn` from PATH, as in an activated virtual environment
               PATH=f"{PY.parent}{os.pathsep}{os.environ.get('PATH', '')}")
    if threads:
        env["MLPROJ_TRAIN_N_THREADS"] = str(threads)
        env.update({v: str(threads) for v in THREAD_VARS})
    return env


def prepare(tmp: Path, env: dict[str, str], n_rows: int, n_payloads: int, reuse: bool) -> tuple[dict, list[dict]]:
    "Train and register the model in `tmp`; return the train output and `n_payloads` JSON-safe holdout rows."
    from mlproj.data.sources import load_data, make_demo_data, split_data

    csv = tmp / "churn.csv"
    if reuse:
        log(f"reusing the project and model in {tmp}")
        X = split_data(load_data(csv), "churned", "classification", test_size=0.2, random_state=0).X_test
        return json.loads((tmp / "train.json").read_text()), json.loads(
            X.head(n_payloads).to_json(orient="records", date_format="iso"))
    make_demo_data(n_rows=n_rows, random_state=0).to_csv(csv, index=False)
    (tmp / "settings.ini").write_text("[train]\ncache_dir =\nmodels_dir = models\n[tracking]\nagent_idle = 0\n")
    log(f"training hgb on {n_rows:,} demo rows with tracking on (registers {MODEL} v1 @champion)")
    t = time.perf_counter()
    p = subprocess.run([str(MLPROJ), "train", "--data", "churn.csv", "--target", "churned", "--model", "hgb",
                        "--json", "--quiet"], env=env, cwd=tmp, capture_output=True, text=True)
    if p.returncode:
        raise SystemExit(f"mlproj train failed ({p.returncode}):\n{p.stderr[-3000:]}")
    out = json.loads(p.stdout)
    (tmp / "train.json").write_text(p.stdout)
    tr = out.get("tracking") or {}
    if tr.get("version") != "1" or "champion" not in (tr.get("aliases") or []):
        raise SystemExit(f"expected {MODEL} version 1 with alias champion, got {tr}")
    log(f"trained in {time.perf_counter() - t:.1f}s: {MODEL} v{tr['version']} {tr['aliases']}")
    X = split_data(load_data(csv), "churned", "classification", test_size=0.2, random_state=0).X_test
    rows = json.loads(X.head(n_payloads).to_json(orient="records", date_format="iso"))  # NaN -> null
    return out, rows


def libraries() -> dict:
    "Versions of the serving stack; uvicorn picks uvloop and httptools for all three servers when installed."
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in ("mlflow", "fastapi", "starlette", "uvicorn", "uvloop", "httptools", "h11", "orjson"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    return out


def mlproj_serve_available(env: dict[str, str]) -> bool:
    p = subprocess.run([str(MLPROJ), "serve", "--help"], env=env, capture_output=True, text=True)
    return p.returncode == 0


# ---------------------------------------------------------------- servers

def wait_ready(url: str, proc: subprocess.Popen, log_file: Path, timeout: float) -> float:
    "Poll `url` until it answers 200; return the seconds it took. Fail if the server exits."
    t0 = time.perf_counter()
    host, port, path = re.match(r"http://([^:/]+):(\d+)(/.*)", url).groups()
    while time.perf_counter() - t0 < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}:\n{log_file.read_text()[-3000:]}")
        try:
            c = http.client.HTTPConnection(host, int(port), timeout=2)
            c.request("GET", path)
            status = c.getresponse().status
            c.close()
            if status == 200:
                return time.perf_counter() - t0
        except (OSError, http.client.HTTPException):
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer 200 within {timeout:.0f} s:\n{log_file.read_text()[-3000:]}")


def settle(pgid: int | None = None, max_wait: float = 20.0) -> float:
    """Wait until the server's process group `pgid` uses under 0.05 cores (every worker has imported and
    loaded the model: /health answers as soon as the first one does) or, without `pgid`, until the machine
    is quiet (under 0.25 cores busy); at most `max_wait` s. Returns the seconds waited."""
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < max_wait:
        cpu = (lambda: group_cpu_seconds(pgid)) if pgid else busy_cpu_seconds
        b0, t = cpu(), time.perf_counter()
        time.sleep(0.5)
        if (cpu() - b0) / (time.perf_counter() - t) < (0.05 if pgid else 0.25):
            break
    return time.perf_counter() - t0


def start(name: str, cmd: list[str], env: dict, cwd: Path, ready_path: str, port: int,
          timeout: float) -> tuple[subprocess.Popen, dict]:
    log_file = cwd / "logs" / f"{name}.log"
    log_file.parent.mkdir(exist_ok=True)
    log(f"starting {name}: {' '.join(cmd)}")
    with open(log_file, "w") as f:  # never a pipe: access logs would fill it and block the server
        proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=f, stderr=subprocess.STDOUT,
                                start_new_session=True)  # own process group: workers are stopped with it
    try:
        ready = wait_ready(f"http://127.0.0.1:{port}{ready_path}", proc, log_file, timeout)
        settled = settle(proc.pid, max_wait=120)
    except BaseException:
        stop(proc)
        raise
    log(f"{name} ready after {ready:.1f}s (quiet after {settled:.1f}s more)")
    return proc, {"command": cmd, "ready_s": round(ready, 3), "settle_s": round(settled, 3), "log": str(log_file)}


def stop(proc: subprocess.Popen) -> None:
    "SIGTERM the server's process group (uvicorn and its workers), SIGKILL what is left after 20 s."
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # stragglers of the group, if any
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()


# ---------------------------------------------------------------- measurements

def group_cpu_seconds(pgid: int) -> float:
    "CPU seconds used so far by the live processes of process group `pgid` (the server and its workers)."
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            f = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(f[2]) == pgid:  # fields after the name: state ppid pgrp ... utime(11) stime(12)
            total += int(f[11]) + int(f[12])
    return total / os.sysconf("SC_CLK_TCK")


class Load:
    "Cores kept busy during a phase: by the server, by this script and wrk, and by everything else (foreign)."

    def __init__(self, pgid: int) -> None:
        self.pgid = pgid
        self.start = self._snap()

    def _snap(self) -> tuple[float, ...]:
        t = os.times()
        return (time.perf_counter(), busy_cpu_seconds(), group_cpu_seconds(self.pgid),
                t.user + t.system, t.children_user + t.children_system)

    def done(self) -> dict:
        end = self._snap()
        wall, machine, server, me, waited = (b - a for a, b in zip(self.start, end))
        return {"wall_s": round(wall, 3), "machine_cores": round(machine / wall, 3),
                "server_cores": round(server / wall, 3), "client_cores": round((me + waited) / wall, 3),
                "foreign_cores": round(max(0.0, machine - server - me - waited) / wall, 3)}


def post(port: int, path: str, payload: object) -> tuple[int, object]:
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        c.request("POST", path, json.dumps(payload).encode(), HEADERS)
        r = c.getresponse()
        data = r.read()
        try:
            return r.status, json.loads(data)
        except ValueError:
            return r.status, data.decode(errors="replace")[:500]
    finally:
        c.close()


def percentiles_ms(seconds: list[float]) -> dict:
    import numpy as np

    a = np.asarray(seconds) * 1000
    return {"p50": round(float(np.percentile(a, 50)), 3), "p90": round(float(np.percentile(a, 90)), 3),
            "p99": round(float(np.percentile(a, 99)), 3), "mean": round(float(a.mean()), 3),
            "min": round(float(a.min()), 3), "max": round(float(a.max()), 3)}


def latency(port: int, path: str, bodies: list[bytes], n: int, warmup: int) -> dict:
    "`warmup` + `n` sequential POSTs over one keep-alive connection; per-request wall times of the last `n`."
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    times, errors, sample_error, sockets = [], Counter(), None, set()
    for i in range(warmup + n):
        body = bodies[i % len(bodies)]
        t = time.perf_counter()
        try:
            conn.request("POST", path, body, HEADERS)
            r = conn.getresponse()
            data = r.read()
            status = r.status
            if r.will_close:
                conn.close()
        except (OSError, http.client.HTTPException) as e:
            status, data = type(e).__name__, str(e).encode()
            conn.close()
        dt = time.perf_counter() - t
        if conn.sock is not None:
            sockets.add(id(conn.sock))
        if i >= warmup:
            times.append(dt)
            if status != 200:
                errors[str(status)] += 1
                sample_error = sample_error or data[:500].decode(errors="replace")
    conn.close()
    return {"requests": n, "warmup": warmup, **percentiles_ms(times), "errors": sum(errors.values()),
            "errors_by_status": dict(errors), "sample_error": sample_error, "connections_used": len(sockets),
            "ms": [round(t * 1000, 4) for t in times]}


LUA = r"""
-- generated by benchmarks/serve.py: POST one JSON row per request, cycling through the payloads
local bodies = {
%(bodies)s
}
local reqs = {}
local i = 0
init = function(args)
  for k, b in ipairs(bodies) do
    reqs[k] = wrk.format("POST", "%(path)s", {["Content-Type"] = "application/json"}, b)
  end
end
request = function()
  i = i %% #reqs + 1
  return reqs[i]
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('WRK_JSON {"requests": %%d, "duration_us": %%d, "bytes": %%d, "connect": %%d, ' ..
    '"read": %%d, "write": %%d, "status": %%d, "timeout": %%d, "mean_us": %%.1f, "stdev_us": %%.1f, ' ..
    '"max_us": %%.1f, "p50_us": %%.1f, "p90_us": %%.1f, "p99_us": %%.1f}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency.mean, latency.stdev, latency.max, latency:percentile(50), latency:percentile(90),
    latency:percentile(99)))
end
"""

UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def parse_wrk(text: str) -> dict:
    "Requests/sec, the latency distribution (ms), non-2xx/3xx and socket errors from wrk's text output."
    out: dict = {}
    m = re.search(r"Requests/sec:\s+([\d.]+)", text)
    out["requests_per_s"] = float(m.group(1)) if m else None
    out["latency_distribution_ms"] = {f"p{q}": round(float(v) * UNITS[u], 3) for q, v, u in
                                      re.findall(r"^\s+(\d+)%\s+([\d.]+)(us|ms|s|m)\s*$", text, re.M)}
    m = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    out["non_2xx_3xx"] = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    out["socket_errors"] = dict(zip(("connect", "read", "write", "timeout"), map(int, m.groups()))) if m else {}
    m = re.search(r"(\d+) requests in ([\d.]+)(\w+)", text)
    out["total_requests"] = int(m.group(1)) if m else None
    m = re.search(r"^WRK_JSON (\{.*\})$", text, re.M)
    out["lua_summary"] = json.loads(m.group(1)) if m else None
    return out


def wrk(url: str, path: str, bodies: list[bytes], duration: int, threads: int, conns: int, script: Path) -> dict:
    lua_bodies = ",\n".join(f"  [==[{b.decode()}]==]" for b in bodies)
    script.write_text(LUA % {"bodies": lua_bodies, "path": path})
    cmd = ["wrk", f"-t{threads}", f"-c{conns}", f"-d{duration}s", "--latency", "--timeout", "10s", "-s",
           str(script), url]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60)
    if p.returncode:
        raise RuntimeError(f"{' '.join(cmd)} exited {p.returncode}:\n{p.stderr[-2000:]}")
    return {"command": " ".join(cmd), **parse_wrk(p.stdout), "output": p.stdout}


def measure(name: str, pgid: int, port: int, path: str, bodies: list[bytes], args, tmp: Path) -> dict:
    settle()
    log(f"{name}: {args.requests} sequential requests on one connection (+{args.warmup} warm-up)")
    load = Load(pgid)
    lat = latency(port, path, bodies, args.requests, args.warmup)
    lat["load"] = load.done()
    log(f"{name}: p50 {lat['p50']:.2f} ms, p99 {lat['p99']:.2f} ms, mean {lat['mean']:.2f} ms, "
        f"errors {lat['errors']}, connections {lat['connections_used']}; cores busy: {lat['load']}")
    url = f"http://127.0.0.1:{port}{path}"
    script = tmp / f"post-{re.sub(r'[^a-z0-9]+', '-', name.lower())}.lua"
    if args.wrk_warmup:
        wrk(url, path, bodies, args.wrk_warmup, args.wrk_threads, args.connections, script)
    settle()
    log(f"{name}: wrk -t{args.wrk_threads} -c{args.connections} -d{args.duration}s")
    load = Load(pgid)
    w = wrk(url, path, bodies, args.duration, args.wrk_threads, args.connections, script)
    w["load"] = load.done()
    bad = w["non_2xx_3xx"] + sum(w["socket_errors"].values())
    log(f"{name}: {w['requests_per_s']:,.0f} req/s, p50 {w['latency_distribution_ms'].get('p50')} ms, "
        f"p99 {w['latency_distribution_ms'].get('p99')} ms, errors {bad}; cores busy: {w['load']}")
    return {"name": name, "path": path, "latency": lat, "wrk": w}


# ---------------------------------------------------------------- report

def ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a and b else None


def summarize(block: dict) -> None:
    "Add ratios against MLflow and the no-op ceiling to each measured endpoint of one worker count."
    by = {m["key"]: m for m in block["measured"]}
    ml, noop = by.get("mlflow"), by.get("noop")
    for m in block["measured"]:
        rps, p50 = m["wrk"]["requests_per_s"], m["latency"]["p50"]
        m["p50_vs_mlflow"] = ratio(p50, ml["latency"]["p50"]) if ml else None
        m["rps_vs_mlflow"] = ratio(rps, ml["wrk"]["requests_per_s"]) if ml else None
        m["of_noop_ceiling"] = ratio(rps, noop["wrk"]["requests_per_s"]) if noop else None
        if m["key"].startswith("mlproj"):
            m["targets"] = {
                "p50_at_most_half_of_mlflow": m["p50_vs_mlflow"] is not None and m["p50_vs_mlflow"] <= TARGET_P50_RATIO,
                "throughput_at_least_3x_mlflow": m["rps_vs_mlflow"] is not None and m["rps_vs_mlflow"] >= TARGET_RPS_RATIO,
            }


def fmt(v: float | None, spec: str, suffix: str = "") -> str:
    return "-" if v is None else f"{v:{spec}}{suffix}"


def markdown(res: dict) -> str:
    c = res["config"]
    lines = [f"Single-row requests: latency over {c['requests']:,} sequential requests on one keep-alive connection "
             f"(http.client, after {c['warmup']} warm-up); throughput: `wrk -t{c['wrk_threads']} -c{c['connections']} "
             f"-d{c['duration']}s` (wrk and the server share the machine's {res['machine']['nproc']} cores). "
             f"Model: hgb on {c['rows']:,} demo rows, `{MODEL}@champion`. Threads: "
             f"{'pinned to ' + str(c['threads']) if c['threads'] else 'not pinned (library defaults)'}.", ""]
    for block in res["results"]:
        w = block["workers"]
        lines += [f"| server ({w} worker{'s' if w > 1 else ''}) | p50 | p90 | p99 | mean | errors | req/s | wrk p99 "
                  "| wrk errors | p50 vs MLflow | req/s vs MLflow | of no-op ceiling |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for m in block["measured"]:
            lat, wr = m["latency"], m["wrk"]
            werr = wr["non_2xx_3xx"] + sum(wr["socket_errors"].values())
            lines.append(
                f"| {m['label']} | {lat['p50']:.2f} ms | {lat['p90']:.2f} ms | {lat['p99']:.2f} ms | {lat['mean']:.2f} ms "
                f"| {lat['errors']} | {fmt(wr['requests_per_s'], ',.0f')} | "
                f"{fmt(wr['latency_distribution_ms'].get('p99'), '.2f', ' ms')} | {werr} | "
                f"{fmt(m['p50_vs_mlflow'], '.2f', 'x')} | {fmt(m['rps_vs_mlflow'], '.2f', 'x')} | "
                f"{fmt(m['of_noop_ceiling'], '.0%')} |")
        lines.append("")
        ours = [m for m in block["measured"] if m["key"].startswith("mlproj")]
        if not ours:
            lines.append(f"Targets ({w} worker(s)): not measured, `mlproj serve` is not available "
                         f"({block.get('mlproj_note', '')}).")
        for m in ours:
            t = m["targets"]
            lines.append(
                f"Targets, {m['label']} ({w} worker(s)): p50 {fmt(m['p50_vs_mlflow'], '.2f', 'x')} of MLflow's "
                f"(<= {TARGET_P50_RATIO}x): **{'met' if t['p50_at_most_half_of_mlflow'] else 'NOT met'}**; "
                f"throughput {fmt(m['rps_vs_mlflow'], '.2f', 'x')} MLflow's (>= {TARGET_RPS_RATIO:g}x): "
                f"**{'met' if t['throughput_at_least_3x_mlflow'] else 'NOT met'}**.")
        lines.append("")
    loads = [m[k]["load"]["foreign_cores"] for b in res["results"] for m in b["measured"] for k in ("latency", "wrk")]
    if loads:
        lines += [f"Other processes kept {min(loads):.2f}-{max(loads):.2f} cores busy during the measurements "
                  f"(`load.foreign_cores` in the results file; figures are comparable only from quiet runs).", ""]
    if not res["same_predictions"]["checked"]:
        lines.append("Predictions were not compared (`mlproj serve` not measured).")
    else:
        lines.append("Predictions on the payload rows, as one batch: " + ", ".join(
            f"{k} {'same as MLflow' if v else 'DIFFERENT from MLflow'}" for k, v in res["same_predictions"]["checked"].items()))
    return "\n".join(lines).rstrip() + "\n"


# ---------------------------------------------------------------- main

def bench_workers(workers: int, tmp: Path, env: dict, records: list[dict], args, have_mlproj: bool,
                  res: dict) -> dict:
    one = [json.dumps(r, allow_nan=False).encode() for r in records]
    mlflow_style = [json.dumps({"dataframe_records": [r]}, allow_nan=False).encode() for r in records]
    block: dict = {"workers": workers, "servers": {}, "measured": []}
    ref = f"{MODEL}@champion"

    def serve(key, cmd, ready_path, endpoints, server_env):
        port = free_port()
        proc, info = start(f"{key}-w{workers}", [*cmd, *map(str, ("--port", port))], server_env, tmp, ready_path,
                           port, args.start_timeout)
        block["servers"][key] = info
        try:
            for ekey, label, path, bodies, batch in endpoints:
                status, answer = post(port, path, batch)  # correctness: all payload rows as one batch
                want = "ok" if ekey == "noop" else "predictions"
                if status != 200 or not isinstance(answer, dict) or want not in answer:
                    raise RuntimeError(f"{label}: batch check answered {status}: {str(answer)[:500]}")
                if ekey != "noop":
                    res.setdefault("predictions", {})[ekey] = answer["predictions"]
                m = measure(f"{label}, {workers} worker(s)", proc.pid, port, path, bodies, args, tmp)
                block["measured"].append({"key": ekey, "label": label, **m})
        finally:
            stop(proc)
            log(f"stopped {key}")

    host = ["--host", "127.0.0.1", "--workers", str(workers)]
    mlflow_env = {**env, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp}/mlruns.db",
                  "MLFLOW_REGISTRY_URI": f"sqlite:///{tmp}/mlruns.db"}
    serve("mlflow", [str(PY), "-m", "mlflow", "models", "serve", "-m", f"models:/{ref}", "--env-manager", "local",
                     *host], "/ping",
          [("mlflow", "`mlflow models serve` /invocations", "/invocations", mlflow_style,
            {"dataframe_records": records})], mlflow_env)
    if have_mlproj:
        serve("mlproj", [str(MLPROJ), "serve", "--model", ref, *host], "/ready",
              [("mlproj-predict", "`mlproj serve` /predict", "/predict", one, records),
               ("mlproj-invocations", "`mlproj serve` /invocations", "/invocations", mlflow_style,
                {"dataframe_records": records})], env)
    else:
        block["mlproj_note"] = "`mlproj serve --help` failed"
    noop_cmd = [str(PY), "-m", "uvicorn", "noop_app:app", "--app-dir", str(HERE), *host]
    if not args.noop_access_log:
        noop_cmd.append("--no-access-log")
    serve("noop", noop_cmd, "/health",
          [("noop", "no-op FastAPI /noop (ceiling)", "/noop", one, records)], env)
    summarize(block)
    return block


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workers", default="1", help="worker counts, comma-separated, e.g. 1,2 (default 1)")
    ap.add_argument("--requests", type=int, default=2000, help="sequential requests per endpoint (default 2000)")
    ap.add_argument("--warmup", type=int, default=50, help="discarded warm-up requests (default 50)")
    ap.add_argument("--payloads", type=int, default=200, help="distinct holdout rows cycled through (default 200)")
    ap.add_argument("--duration", type=int, default=10, help="wrk seconds per endpoint (default 10)")
    ap.add_argument("--wrk-warmup", type=int, default=2, help="discarded wrk seconds before each run (default 2)")
    ap.add_argument("--connections", type=int, default=8, help="wrk connections (default 8)")
    ap.add_argument("--wrk-threads", type=int, default=2, help="wrk threads (default 2)")
    ap.add_argument("--rows", type=int, default=20_000, help="demo rows to train on (default 20000)")
    ap.add_argument("--threads", type=int, default=0,
                    help="pin OMP/OPENBLAS/MKL and MLPROJ_TRAIN_N_THREADS for all servers (default 0: leave them)")
    ap.add_argument("--noop-access-log", action="store_true",
                    help="keep uvicorn's access log on for the no-op app (default off: the ceiling)")
    ap.add_argument("--start-timeout", type=float, default=180, help="seconds a server may take to be ready")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder (server logs in logs/)")
    ap.add_argument("--reuse", metavar="DIR", help="reuse a folder kept with --keep (its model; no training)")
    ap.add_argument("--out", default=str(HERE / "results-serve.json"), help="results file")
    args = ap.parse_args()
    if args.requests < 1000:
        ap.error("--requests must be at least 1000 (the issue's minimum)")
    if not shutil.which("wrk"):
        print(WRK_MISSING, file=sys.stderr)
        sys.exit(2)
    workers = [int(w) for w in args.workers.split(",") if w.strip()]

    tmp = Path(args.reuse).resolve() if args.reuse else Path(tempfile.mkdtemp(prefix="mlproj-bench-serve-"))
    if args.reuse and not (tmp / "train.json").is_file():
        ap.error(f"--reuse {tmp}: no train.json there (keep a folder of an earlier run with --keep)")
    try:
        env = base_env(tmp, args.threads or None)
        have_mlproj = mlproj_serve_available(env)
        if not have_mlproj:
            log("`mlproj serve` is not available (`mlproj serve --help` failed): measuring MLflow and the no-op only")
        train_out, records = prepare(tmp, env, args.rows, args.payloads, bool(args.reuse))
        res: dict = {
            "when": datetime.now(timezone.utc).isoformat(timespec="seconds"), "machine": machine_info(),
            "config": {"requests": args.requests, "warmup": args.warmup, "payloads": len(records),
                       "duration": args.duration, "wrk_warmup": args.wrk_warmup, "connections": args.connections,
                       "wrk_threads": args.wrk_threads,
                       "rows": sum(1 for _ in open(tmp / "churn.csv")) - 1, "threads": args.threads or None,
                       "noop_access_log": args.noop_access_log, "model": f"{MODEL}@champion",
                       "wrk_version": subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout
                       .splitlines()[0] if shutil.which("wrk") else None,
                       "server_libraries": libraries(),
                       "server_env": {k: env.get(k) for k in (*THREAD_VARS, "MLPROJ_TRAIN_N_THREADS")}},
            "train": {k: train_out.get(k) for k in ("run_id", "artifact", "metrics", "tracking")},
            "mlproj_serve_available": have_mlproj,
            "results": [],
        }
        for w in workers:
            res["results"].append(bench_workers(w, tmp, env, records, args, have_mlproj, res))
        preds = res.pop("predictions", {})
        res["same_predictions"] = {"checked": {k: v == preds.get("mlflow") for k, v in preds.items()
                                               if k.startswith("mlproj")} if "mlflow" in preds else {}}
        Path(args.out).write_text(json.dumps(res, indent=1) + "\n")
        log(f"wrote {args.out}")
        print(markdown(res))
    finally:
        if args.keep or args.reuse:
            log(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()

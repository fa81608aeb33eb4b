"""Serving: `mlproj serve` against `mlflow models serve` of the same registered model, and a no-op ceiling.

    .venv/bin/python benchmarks/serve.py [--models wide,narrow] [--workers 1,2] [--rounds 3] [--keep]

Targets (issue 14; per model, 1 worker, 8 connections from `wrk`, medians of interleaved rounds):
`/predict` requests/s >= 50% of the no-op endpoint's; `/predict` p50 <= 2x the no-op's p50 (sequential
requests on one keep-alive connection); `/predict` requests/s >= 10x `mlflow models serve`'s on the same model.
The issue-5 ratios (p50 <= 0.5x MLflow's, requests/s >= 3x) are kept in the results file.

Two models, each `hgb` trained with tracking on in its own temporary project (own settings.ini, passed as
MLPROJ_SETTINGS, and own mlruns.db), so each is `mlproj-model@champion` of its project: "wide" on all
columns of the demo data (`--rows`, default 20,000), "narrow" on three of them (tenure_months, monthly_usage,
plan). Payloads are holdout rows, one row per request, cycling through `--payloads` of them.

Every server is started once, on 127.0.0.1 on a free port, and all listen at the same time (idle servers
use no CPU: checked before the rounds and recorded during every phase): per worker count the no-op app
(benchmarks/noop_app.py, /noop), per model and worker count `mlproj serve --model mlproj-model@champion`
(/predict with the bare record, /invocations with MLflow's `dataframe_records`), per model
`mlflow models serve -m models:/mlproj-model@champion --env-manager local` (/invocations; 1 worker unless
`--mlflow-workers`). Then `--rounds` rounds each measure every endpoint in turn, in an order rotated every
round: `--requests` sequential requests on one connection (p50), then `wrk -t2 -c8` (requests/s, p50). With 2
workers only the no-op and /predict are measured; the scaling 2 workers / 1 worker is reported for both.
Before the rounds, each model's app is also timed in process (a subprocess with the server's environment):
`mlproj.deploy.routes.stage_breakdown` per stage of one /predict request, and whole requests through the
ASGI app (mlproj's and the no-op's), to set beside the over-the-wire p50.

Needs `wrk` (`apt-get install wrk`); exits 2 without it. Results: benchmarks/results-serve.json; a Markdown
report on stdout, progress on stderr. Servers are stopped at the end, also on error, Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.dont_write_bytecode = True

from run import MLPROJ, PY, THREAD_VARS, busy_cpu_seconds, log, machine_info  # noqa: E402

MODEL = "mlproj-model"
REF = f"{MODEL}@champion"
TARGET = "churned"
MODELS = {"wide": None, "narrow": ["tenure_months", "monthly_usage", "plan"]}  # None: every column
TARGETS = {"predict_rps_of_noop": 0.5, "predict_p50_vs_noop": 2.0, "predict_rps_vs_mlflow": 10.0}
ISSUE5 = {"p50_vs_mlflow": 0.5, "rps_vs_mlflow": 3.0}  # issue 5: at most / at least
HEADERS = {"Content-Type": "application/json"}
# (key, label, path, MLflow-style body?, server)
ENDPOINTS = {
    "noop": ("no-op FastAPI /noop (ceiling)", "/noop", False, "noop"),
    "mlflow": ("`mlflow models serve` /invocations", "/invocations", True, "mlflow"),
    "mlproj-predict": ("`mlproj serve` /predict", "/predict", False, "mlproj"),
    "mlproj-invocations": ("`mlproj serve` /invocations", "/invocations", True, "mlproj"),
}
WRK_MISSING = ("serve.py: `wrk` (the HTTP load generator) is not on PATH. Install it with\n"
               "    apt-get install -y wrk        (Debian/Ubuntu; as root, or with sudo)\n"
               "and run this benchmark again.")


# ---------------------------------------------------------------- set-up

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def base_env(project: Path, threads: int | None) -> dict[str, str]:
    "Environment of every server: the project's settings.ini, tracking on, no stray MLPROJ_*/MLflow variables."
    drop = ("MLPROJ_", "MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "MLFLOW_MODELS_WORKERS", "MLFLOW_WORKERS")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    env.update(MLPROJ_SETTINGS=str(project / "settings.ini"), MLPROJ_TRACKING_ENABLED="true",
               MLPROJ_TRACKING_AGENT_IDLE="0", MLFLOW_DISABLE_TELEMETRY="true",
               # `mlflow models serve` runs `uvicorn` from PATH, as in an activated virtual environment
               PATH=f"{PY.parent}{os.pathsep}{os.environ.get('PATH', '')}")
    if threads:
        env["MLPROJ_TRAIN_N_THREADS"] = str(threads)
        env.update({v: str(threads) for v in THREAD_VARS})
    return env


def mlflow_env(project: Path, env: dict[str, str]) -> dict[str, str]:
    uri = f"sqlite:///{project}/mlruns.db"
    return {**env, "MLFLOW_TRACKING_URI": uri, "MLFLOW_REGISTRY_URI": uri}


def holdout(csv: Path, n: int) -> list[dict]:
    "The first `n` holdout rows of `csv` (mlproj train's 80/20 split), JSON-safe (NaN -> null)."
    from mlproj.data.sources import load_data, split_data

    X = split_data(load_data(csv), TARGET, "classification", test_size=0.2, random_state=0).X_test
    return json.loads(X.head(n).to_json(orient="records", date_format="iso"))


def prepare(name: str, project: Path, env: dict[str, str], n_rows: int, n_payloads: int,
            reuse: bool) -> tuple[dict, list[dict]]:
    "Train and register model `name` in its own `project`; return the train output and `n_payloads` holdout rows."
    from mlproj.data.sources import make_demo_data

    csv = project / "churn.csv"
    if reuse:
        log(f"{name}: reusing the project and model in {project}")
        return json.loads((project / "train.json").read_text()), holdout(csv, n_payloads)
    project.mkdir(parents=True)
    df = make_demo_data(n_rows=n_rows, random_state=0)
    if MODELS[name]:
        df = df[[*MODELS[name], TARGET]]
    df.to_csv(csv, index=False)
    (project / "settings.ini").write_text("[train]\ncache_dir =\nmodels_dir = models\n[tracking]\nagent_idle = 0\n")
    log(f"{name}: training hgb on {n_rows:,} demo rows x {df.shape[1] - 1} columns with tracking on "
        f"(registers {REF} in {project.name}/mlruns.db)")
    t = time.perf_counter()
    p = subprocess.run([str(MLPROJ), "train", "--data", "churn.csv", "--target", TARGET, "--model", "hgb",
                        "--json", "--quiet"], env=env, cwd=project, capture_output=True, text=True)
    if p.returncode:
        raise SystemExit(f"{name}: mlproj train failed ({p.returncode}):\n{p.stderr[-3000:]}")
    out = json.loads(p.stdout)
    (project / "train.json").write_text(p.stdout)
    tr = out.get("tracking") or {}
    if tr.get("version") != "1" or "champion" not in (tr.get("aliases") or []):
        raise SystemExit(f"{name}: expected {MODEL} version 1 with alias champion, got {tr}")
    log(f"{name}: trained in {time.perf_counter() - t:.1f}s: {MODEL} v{tr['version']} {tr['aliases']}")
    return out, holdout(csv, n_payloads)


def libraries() -> dict:
    "Versions of the serving stack; uvicorn picks uvloop and httptools for all three servers when installed."
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in ("mlflow", "fastapi", "starlette", "uvicorn", "uvloop", "httptools", "h11", "orjson", "httpx"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    return out


def mlproj_serve_available(env: dict[str, str]) -> bool:
    p = subprocess.run([str(MLPROJ), "serve", "--help"], env=env, capture_output=True, text=True)
    return p.returncode == 0


# ---------------------------------------------------------------- servers

@dataclass
class Server:
    "One running server: `kind` (noop, mlflow, mlproj) for `model` (None for the no-op) with `workers` workers."

    kind: str
    model: str | None
    workers: int
    port: int = 0
    proc: subprocess.Popen | None = None
    info: dict = field(default_factory=dict)

    @property
    def name(self) -> str:
        return f"{self.kind}-{self.model}-w{self.workers}" if self.model else f"{self.kind}-w{self.workers}"

    @property
    def pgid(self) -> int:
        return self.proc.pid


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


def settle_servers(pgids: list[int], max_wait: float = 10.0) -> float:
    "Wait until all our servers together use under 0.05 cores (the last phase's backlog is done); at most `max_wait` s."
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < max_wait:
        b0, t = sum(groups_cpu_seconds(pgids).values()), time.perf_counter()
        time.sleep(0.3)
        if (sum(groups_cpu_seconds(pgids).values()) - b0) / (time.perf_counter() - t) < 0.05:
            break
    return time.perf_counter() - t0


def start(srv: Server, cmd: list[str], env: dict, cwd: Path, ready_path: str, timeout: float) -> None:
    "Start `srv` with `cmd` (plus its port), wait until it answers `ready_path` and all its processes are idle."
    srv.port = free_port()
    cmd = [*cmd, "--port", str(srv.port)]
    log_file = cwd / "logs" / f"{srv.name}.log"
    log_file.parent.mkdir(exist_ok=True)
    log(f"starting {srv.name}: {' '.join(cmd)}")
    with open(log_file, "w") as f:  # never a pipe: access logs would fill it and block the server
        srv.proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=f,
                                    stderr=subprocess.STDOUT, start_new_session=True)  # own group: workers too
    ready = wait_ready(f"http://127.0.0.1:{srv.port}{ready_path}", srv.proc, log_file, timeout)
    settled = settle(srv.pgid, max_wait=120)
    log(f"{srv.name} ready after {ready:.1f}s (quiet after {settled:.1f}s more), port {srv.port}")
    srv.info = {"command": cmd, "port": srv.port, "ready_s": round(ready, 3), "settle_s": round(settled, 3),
                "log": str(log_file)}


def stop_all(servers: list[Server]) -> None:
    "SIGTERM every server's process group (uvicorn and its workers), SIGKILL what is left after 20 s."
    running = [s.proc for s in servers if s.proc is not None]
    for proc in running:
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
    deadline = time.monotonic() + 20
    for proc in running:
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            pass
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # stragglers of the group, if any
        except (ProcessLookupError, PermissionError):
            pass
        proc.wait()


# ---------------------------------------------------------------- measurements

def groups_cpu_seconds(pgids: list[int]) -> dict[int, float]:
    "CPU seconds used so far by the live processes of each process group in `pgids` (a server and its workers)."
    total = dict.fromkeys(pgids, 0)
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            f = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(f[2]) in total:  # fields after the name: state ppid pgrp ... utime(11) stime(12)
            total[int(f[2])] += int(f[11]) + int(f[12])
    return {k: v / os.sysconf("SC_CLK_TCK") for k, v in total.items()}


def group_cpu_seconds(pgid: int) -> float:
    return groups_cpu_seconds([pgid])[pgid]


class Load:
    """Cores kept busy during a phase: by the measured server, by the other (idle) servers, by this script
    and wrk (client), and by everything else (foreign)."""

    def __init__(self, pgid: int, others: list[int]) -> None:
        self.pgid, self.others = pgid, [p for p in others if p != pgid]
        self.start = self._snap()

    def _snap(self) -> tuple[float, ...]:
        t = os.times()
        g = groups_cpu_seconds([self.pgid, *self.others])
        return (time.perf_counter(), busy_cpu_seconds(), g.pop(self.pgid), sum(g.values()),
                t.user + t.system, t.children_user + t.children_system)

    def done(self) -> dict:
        end = self._snap()
        wall, machine, server, idle, me, waited = (b - a for a, b in zip(self.start, end))
        return {"wall_s": round(wall, 3), "machine_cores": round(machine / wall, 3),
                "server_cores": round(server / wall, 3), "other_servers_cores": round(idle / wall, 3),
                "client_cores": round((me + waited) / wall, 3),
                "foreign_cores": round(max(0.0, machine - server - idle - me - waited) / wall, 3)}


def post(port: int, path: str, payload: object, method: str = "POST") -> tuple[int, object]:
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        c.request(method, path, None if method == "GET" else json.dumps(payload).encode(), HEADERS)
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


def write_lua(script: Path, path: str, bodies: list[bytes]) -> None:
    lua_bodies = ",\n".join(f"  [==[{b.decode()}]==]" for b in bodies)
    script.write_text(LUA % {"bodies": lua_bodies, "path": path})


def wrk(url: str, duration: int, threads: int, conns: int, script: Path) -> dict:
    cmd = ["wrk", f"-t{threads}", f"-c{conns}", f"-d{duration}s", "--latency", "--timeout", "10s", "-s",
           str(script), url]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60)
    if p.returncode:
        raise RuntimeError(f"{' '.join(cmd)} exited {p.returncode}:\n{p.stderr[-2000:]}")
    return {"command": " ".join(cmd), **parse_wrk(p.stdout), "output": p.stdout}


@dataclass
class Endpoint:
    "One thing measured every round: endpoint `key` of `model` on `server`, with its bodies and wrk script."

    model: str
    workers: int
    key: str
    server: Server
    bodies: list[bytes]
    script: Path

    @property
    def label(self) -> str:
        return ENDPOINTS[self.key][0]

    @property
    def path(self) -> str:
        return ENDPOINTS[self.key][1]

    @property
    def name(self) -> str:
        return f"{self.model}: {self.label}, {self.workers} worker(s)"


def measure(ep: Endpoint, pgids: list[int], args, first: bool) -> dict:
    "One round of `ep`: sequential latency, then wrk (after a discarded wrk run if `first`), each on quiet servers."
    srv, waited = ep.server, {}
    waited["servers_s"] = settle_servers(pgids)
    waited["machine_s"] = settle(max_wait=args.quiet_wait)
    load = Load(srv.pgid, pgids)
    lat = latency(srv.port, ep.path, ep.bodies, args.requests, args.warmup)
    lat["load"] = load.done()
    log(f"{ep.name}: p50 {lat['p50']:.2f} ms, p99 {lat['p99']:.2f} ms, errors {lat['errors']}, "
        f"connections {lat['connections_used']}; cores busy: {lat['load']}")
    url = f"http://127.0.0.1:{srv.port}{ep.path}"
    if args.wrk_warmup and first:
        wrk(url, args.wrk_warmup, args.wrk_threads, args.connections, ep.script)
    waited["servers_wrk_s"] = settle_servers(pgids)
    waited["machine_wrk_s"] = settle(max_wait=args.quiet_wait)
    load = Load(srv.pgid, pgids)
    w = wrk(url, args.duration, args.wrk_threads, args.connections, ep.script)
    w["load"] = load.done()
    bad = w["non_2xx_3xx"] + sum(w["socket_errors"].values())
    log(f"{ep.name}: {w['requests_per_s']:,.0f} req/s, p50 {w['latency_distribution_ms'].get('p50')} ms, "
        f"p99 {w['latency_distribution_ms'].get('p99')} ms, errors {bad}; cores busy: {w['load']}")
    return {"model": ep.model, "workers": ep.workers, "key": ep.key, "latency": lat, "wrk": w,
            "waited": {k: round(v, 2) for k, v in waited.items()}}


# ---------------------------------------------------------------- in process

def _asgi_scope(path: str, body: bytes) -> dict:
    return {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"}, "http_version": "1.1",
            "method": "POST", "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
            "root_path": "", "client": ("127.0.0.1", 40000), "server": ("127.0.0.1", 8000),
            "headers": [(b"host", b"127.0.0.1:8000"), (b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode())]}


async def asgi_request(app, path: str, body: bytes) -> tuple[int, bytes]:
    "One POST straight through the ASGI `app` (no sockets, no HTTP parsing): its status and body."
    sent, answer = False, {"status": 0, "body": b""}

    async def receive() -> dict:
        nonlocal sent
        if sent:  # only asked again to watch for a disconnect: there is none
            await asyncio.Event().wait()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict) -> None:
        if message["type"] == "http.response.start":
            answer["status"] = message["status"]
        elif message["type"] == "http.response.body":
            answer["body"] += message.get("body", b"")

    await app(_asgi_scope(path, body), receive, send)
    return answer["status"], answer["body"]


async def time_asgi(app, path: str, bodies: list[bytes], n: int, warmup: int) -> dict:
    "Median and p90 microseconds of `n` requests through `app` (after `warmup`), cycling through `bodies`."
    import numpy as np

    times = []
    for i in range(warmup + n):
        body = bodies[i % len(bodies)]
        t = time.perf_counter()
        status, data = await asgi_request(app, path, body)
        dt = time.perf_counter() - t
        if status != 200:
            raise RuntimeError(f"in-process {path} answered {status}: {data[:500].decode(errors='replace')}")
        if i >= warmup:
            times.append(dt)
    a = np.asarray(times) * 1e6
    return {"requests": n, "p50_us": round(float(np.median(a)), 1), "p90_us": round(float(np.percentile(a, 90)), 1),
            "mean_us": round(float(a.mean()), 1)}


def in_process_main(payloads: Path, n: int, warmup: int, stage_repeats: int) -> None:
    """Child mode (`--in-process`): load `REF` as `mlproj serve` does (MLPROJ_SETTINGS = its project), time
    its stages and whole requests through the ASGI apps; print JSON on stdout."""
    import inspect

    from mlproj.core.settings import load_settings

    settings = load_settings()
    threads = settings.serve.threads or os.cpu_count() or 1  # as `mlproj serve` with 1 worker sets them
    os.environ.update({v: str(threads) for v in THREAD_VARS})

    import noop_app
    from threadpoolctl import threadpool_limits

    from mlproj.deploy import routes
    from mlproj.deploy.serve import create_app

    threadpool_limits(threads)
    records = json.loads(payloads.read_text())
    one = [json.dumps(r, allow_nan=False).encode() for r in records]
    mlflow_style = [json.dumps({"dataframe_records": [r]}, allow_nan=False).encode() for r in records]
    t = time.perf_counter()
    app = create_app(REF, settings)
    out: dict = {"load_s": round(time.perf_counter() - t, 3), "stages_us": None, "stages_error": None}

    async def run() -> None:
        async with app.router.lifespan_context(app):  # as uvicorn does: opens the prediction log
            state = app.state.mlproj
            out["inference"] = str(getattr(state.model, "inference", ""))
            out["threads"] = threads
            breakdown = getattr(routes, "stage_breakdown", None)
            if breakdown is None:
                out["stages_error"] = "mlproj.deploy.routes has no stage_breakdown (yet)"
            else:
                try:
                    stages = breakdown(state, one, stage_repeats)
                    if inspect.isawaitable(stages):
                        stages = await stages
                    out["stages_us"] = {str(k): round(float(v), 2) for k, v in stages.items()}
                except Exception as e:  # reported in the results, the rest of the benchmark still runs
                    out["stages_error"] = f"{type(e).__name__}: {e}"
            out["asgi"] = {"mlproj /predict": await time_asgi(app, "/predict", one, n, warmup),
                           "mlproj /invocations": await time_asgi(app, "/invocations", mlflow_style, n, warmup)}
        out["asgi"]["no-op /noop"] = await time_asgi(noop_app.app, "/noop", one, n, warmup)

    asyncio.run(run())
    print(json.dumps(out))


def in_process(name: str, project: Path, env: dict, records: list[dict], args) -> dict:
    "Run this script's `--in-process` mode for model `name` with the server's environment; its JSON."
    payloads = project / "payloads.json"
    payloads.write_text(json.dumps(records))
    log(f"{name}: in-process stage breakdown and ASGI timings ({args.inproc_requests} requests each)")
    cmd = [str(PY), str(Path(__file__).resolve()), "--in-process", str(payloads), "--inproc-requests",
           str(args.inproc_requests), "--warmup", str(args.warmup), "--stage-repeats", str(args.stage_repeats)]
    p = subprocess.run(cmd, env=env, cwd=project, capture_output=True, text=True)
    if p.returncode:
        log(f"{name}: the in-process step failed ({p.returncode}): {p.stderr[-2000:]}")
        return {"error": f"exit {p.returncode}: {p.stderr[-2000:]}"}
    out = json.loads(p.stdout.strip().splitlines()[-1])
    log(f"{name}: in process: {out['asgi']}; stages: {out['stages_us'] or out['stages_error']}")
    return out


# ---------------------------------------------------------------- summary

def spread(values: list[float | None]) -> dict | None:
    "Median, min and max over rounds (None if any round has no value)."
    if not values or any(v is None for v in values):
        return None
    return {"median": round(statistics.median(values), 3), "min": round(min(values), 3),
            "max": round(max(values), 3), "rounds": [round(v, 3) for v in values]}


def ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a and b else None


def summarize(rounds: list[dict]) -> dict:
    "Per model, worker count and endpoint: medians and spreads over rounds of req/s, p50s and loads."
    by: dict = {}
    for rnd in rounds:
        for m in rnd["measured"]:
            by.setdefault(m["model"], {}).setdefault(str(m["workers"]), {}).setdefault(m["key"], []).append(m)
    out: dict = {}
    for model, per_w in by.items():
        for w, per_key in per_w.items():
            for key, ms in per_key.items():
                wl = [m["wrk"]["load"] for m in ms] + [m["latency"]["load"] for m in ms]
                out.setdefault(model, {}).setdefault(w, {})[key] = {
                    "label": ENDPOINTS[key][0], "rounds": len(ms),
                    "rps": spread([m["wrk"]["requests_per_s"] for m in ms]),
                    "p50_ms": spread([m["latency"]["p50"] for m in ms]),
                    "p99_ms": spread([m["latency"]["p99"] for m in ms]),
                    "wrk_p50_ms": spread([m["wrk"]["latency_distribution_ms"].get("p50") for m in ms]),
                    "wrk_p99_ms": spread([m["wrk"]["latency_distribution_ms"].get("p99") for m in ms]),
                    "errors": sum(m["latency"]["errors"] + m["wrk"]["non_2xx_3xx"]
                                  + sum(m["wrk"]["socket_errors"].values()) for m in ms),
                    "server_cores_wrk": spread([m["wrk"]["load"]["server_cores"] for m in ms]),
                    "foreign_cores": spread([x["foreign_cores"] for x in wl]),
                    "other_servers_cores": spread([x["other_servers_cores"] for x in wl]),
                }
    return out


def med(summary: dict, model: str, workers: int, key: str, what: str) -> float | None:
    s = summary.get(model, {}).get(str(workers), {}).get(key, {}).get(what)
    return s["median"] if s else None


def check(value: float | None, target: float, at_least: bool) -> dict:
    met = None if value is None else (value >= target if at_least else value <= target)
    return {"value": value, "target": target, "at_least" if at_least else "at_most": True, "met": met}


def targets(summary: dict, models: list[str]) -> dict:
    "Issue 14's targets per model at 1 worker, on the medians over rounds."
    out = {}
    for model in models:
        def m(key, what, model=model):
            return med(summary, model, 1, key, what)

        out[model] = {
            "predict_rps_of_noop": check(ratio(m("mlproj-predict", "rps"), m("noop", "rps")),
                                         TARGETS["predict_rps_of_noop"], at_least=True),
            "predict_p50_vs_noop": check(ratio(m("mlproj-predict", "p50_ms"), m("noop", "p50_ms")),
                                         TARGETS["predict_p50_vs_noop"], at_least=False),
            "predict_rps_vs_mlflow": check(ratio(m("mlproj-predict", "rps"), m("mlflow", "rps")),
                                           TARGETS["predict_rps_vs_mlflow"], at_least=True),
            # not a target: wrk's p50 at 8 connections mostly restates the req/s ratio
            "predict_wrk_p50_vs_noop": ratio(m("mlproj-predict", "wrk_p50_ms"), m("noop", "wrk_p50_ms")),
        }
    return out


def issue5(summary: dict) -> dict:
    "Issue 5's ratios to MLflow (p50 at most 0.5x, req/s at least 3x) wherever MLflow was measured."
    out: dict = {}
    for model, per_w in summary.items():
        for w, per_key in per_w.items():
            if "mlflow" not in per_key:
                continue
            for key in ("mlproj-predict", "mlproj-invocations"):
                if key in per_key:
                    out.setdefault(model, {}).setdefault(w, {})[key] = {
                        "p50_vs_mlflow": check(ratio(med(summary, model, w, key, "p50_ms"),
                                                     med(summary, model, w, "mlflow", "p50_ms")),
                                               ISSUE5["p50_vs_mlflow"], at_least=False),
                        "rps_vs_mlflow": check(ratio(med(summary, model, w, key, "rps"),
                                                     med(summary, model, w, "mlflow", "rps")),
                                               ISSUE5["rps_vs_mlflow"], at_least=True)}
    return out


def scaling(summary: dict, workers: list[int]) -> dict:
    "Median req/s with N workers over median req/s with 1, per model and endpoint."
    out: dict = {}
    for model, per_w in summary.items():
        for w in workers:
            if w == 1:
                continue
            for key in per_w.get(str(w), {}):
                r = ratio(med(summary, model, w, key, "rps"), med(summary, model, 1, key, "rps"))
                if r is not None:
                    out.setdefault(model, {}).setdefault(key, {})[str(w)] = r
    return out


# ---------------------------------------------------------------- report

def fmt(v: float | None, spec: str, suffix: str = "") -> str:
    return "-" if v is None else f"{v:{spec}}{suffix}"


def fspread(s: dict | None, spec: str) -> str:
    if not s:
        return "-"
    return f"{s['median']:{spec}} ({s['min']:{spec}}-{s['max']:{spec}})"


def verdict(t: dict, spec: str, suffix: str = "") -> str:
    if t["value"] is None:
        return "not measured"
    return f"{t['value']:{spec}}{suffix}: **{'met' if t['met'] else 'missed'}**"


def md_endpoints(res: dict, model: str, w: str) -> list[str]:
    per_key = res["summary"][model][w]
    noop, mlf = per_key.get("noop"), per_key.get("mlflow")
    lines = [f"| {model}, {w} worker{'s' if w != '1' else ''} | req/s | p50 (sequential) | wrk p50 | wrk p99 "
             "| of no-op req/s | req/s vs MLflow | errors | server cores (wrk) | foreign cores |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for key in ENDPOINTS:
        s = per_key.get(key)
        if not s:
            continue
        rps = s["rps"]["median"] if s["rps"] else None
        lines.append(
            f"| {s['label']} | {fspread(s['rps'], ',.0f')} | {fspread(s['p50_ms'], '.2f')} ms "
            f"| {fspread(s['wrk_p50_ms'], '.2f')} ms | {fmt(s['wrk_p99_ms'] and s['wrk_p99_ms']['median'], '.2f', ' ms')} "
            f"| {fmt(ratio(rps, noop and noop['rps'] and noop['rps']['median']), '.0%')} "
            f"| {fmt(ratio(rps, mlf and mlf['rps'] and mlf['rps']['median']), '.1f', 'x')} | {s['errors']} "
            f"| {fmt(s['server_cores_wrk'] and s['server_cores_wrk']['median'], '.2f')} "
            f"| {fmt(s['foreign_cores'] and s['foreign_cores']['max'], '.2f', ' max')} |")
    return [*lines, ""]


def md_stages(res: dict, models: list[str]) -> list[str]:
    ip = res["in_process"]
    names: list[str] = []
    for model in models:
        names += [k for k in (ip.get(model, {}).get("stages_us") or {}) if k not in names]
    lines = ["Where one `/predict` request's time goes (microseconds, medians; stages from "
             "`mlproj.deploy.routes.stage_breakdown` in process, 1 worker):", "",
             "| stage | " + " | ".join(models) + " |", "|---|" + "---|" * len(models)]

    def row(label, values):
        lines.append(f"| {label} | " + " | ".join(fmt(v, ',.0f') for v in values) + " |")

    for n in names:
        row(n, [(ip.get(m, {}).get("stages_us") or {}).get(n) for m in models])
    if names:
        row("sum of the stages", [sum((ip.get(m, {}).get("stages_us") or {}).values()) or None for m in models])
    for key in ("mlproj /predict", "mlproj /invocations", "no-op /noop"):
        row(f"in process through the ASGI app: {key}",
            [(ip.get(m, {}).get("asgi") or {}).get(key, {}).get("p50_us") for m in models])
    for key, label in (("mlproj-predict", "/predict"), ("noop", "no-op /noop")):
        row(f"over the wire, sequential p50: {label}",
            [(med(res["summary"], m, 1, key, "p50_ms") or 0) * 1000 or None for m in models])
        row(f"over the wire, wrk p50 (8 connections): {label}",
            [(med(res["summary"], m, 1, key, "wrk_p50_ms") or 0) * 1000 or None for m in models])
    errors = [f"{m}: {ip[m].get('stages_error') or ip[m].get('error')}" for m in models
              if m in ip and (ip[m].get("stages_error") or ip[m].get("error"))]
    if errors:
        lines += ["", "Stage breakdown not available: " + "; ".join(errors) + "."]
    return [*lines, ""]


def markdown(res: dict) -> str:
    c, models = res["config"], res["config"]["models"]
    lines = [f"{c['rounds']} interleaved rounds (order rotated each round); per endpoint and round: "
             f"{c['requests']:,} sequential requests on one keep-alive connection (http.client, after "
             f"{c['warmup']} warm-up), then `wrk -t{c['wrk_threads']} -c{c['connections']} -d{c['duration']}s` "
             f"(wrk and the servers share the machine's {res['machine']['nproc']} cores). Figures: median over "
             f"rounds (min-max). Models: hgb on {c['rows']:,} demo rows, `{REF}` of its own project; "
             + ", ".join(f"{m} = {res['models'][m]['n_columns']} input columns" for m in models)
             + f". Threads: {'pinned to ' + str(c['threads']) if c['threads'] else 'not pinned (library defaults)'}.",
             ""]
    for model in models:
        for w in sorted(res["summary"].get(model, {}), key=int):
            lines += md_endpoints(res, model, w)
    lines += ["Targets (issue 14; 1 worker, 8 connections, medians over rounds):", "",
              "| model | /predict req/s of the no-op's (>= 50%) | /predict p50 vs the no-op's (<= 2x) "
              "| /predict req/s vs MLflow's (>= 10x) |", "|---|---|---|---|"]
    for model in models:
        t = res["targets"][model]
        lines.append(f"| {model} | {verdict(t['predict_rps_of_noop'], '.0%')} "
                     f"| {verdict(t['predict_p50_vs_noop'], '.2f', 'x')} "
                     f"| {verdict(t['predict_rps_vs_mlflow'], '.1f', 'x')} |")
    lines.append("")
    i5 = [f"{model} {res['summary'][model][w][key]['label']} ({w} worker(s)): p50 "
          f"{verdict(r['p50_vs_mlflow'], '.2f', 'x')}, req/s {verdict(r['rps_vs_mlflow'], '.1f', 'x')}"
          for model, per_w in res["issue5"].items() for w, per_key in per_w.items() for key, r in per_key.items()]
    if i5:
        lines += ["Issue 5's targets (p50 <= 0.5x MLflow's, req/s >= 3x): " + "; ".join(i5) + ".", ""]
    if res["scaling"]:
        lines += ["Workers: median req/s with N workers over median req/s with 1 (wrk shares the cores):", "",
                  "| model | endpoint | workers | req/s | req/s with 1 | scaling |", "|---|---|---|---|---|---|"]
        for model, per_key in res["scaling"].items():
            for key, per_w in per_key.items():
                for w, r in per_w.items():
                    lines.append(f"| {model} | {ENDPOINTS[key][0]} | {w} "
                                 f"| {fmt(med(res['summary'], model, w, key, 'rps'), ',.0f')} "
                                 f"| {fmt(med(res['summary'], model, 1, key, 'rps'), ',.0f')} | {r:.2f}x |")
        lines.append("")
    lines += md_stages(res, models)
    paths = [f"{s}: {i.get('inference_path') or i.get('inference')}" for s, i in res["servers"].items()
             if s.startswith("mlproj")]
    if paths:
        lines += [f"Inference path of each `mlproj serve` (`inference_path` of /metadata): {', '.join(paths)}.", ""]
    fc = [x for m in models for per_key in res["summary"].get(m, {}).values() for s in per_key.values()
          for x in (s["foreign_cores"] or {}).get("rounds", [])]
    oc = [x for m in models for per_key in res["summary"].get(m, {}).values() for s in per_key.values()
          for x in (s["other_servers_cores"] or {}).get("rounds", [])]
    la = res["loadavg"]
    lines.append(f"Load: other processes kept {min(fc, default=0):.2f}-{max(fc, default=0):.2f} cores busy during the "
                 f"measurements, the idle servers {min(oc, default=0):.2f}-{max(oc, default=0):.2f} (`load` in the "
                 f"results file; compare figures only from quiet runs); load average (1, 5, 15 min) "
                 f"{'/'.join(f'{x:.2f}' for x in la['start'])} at the start, "
                 f"{'/'.join(f'{x:.2f}' for x in la['end'])} at the end; total run time "
                 f"{res['duration_s'] / 60:.1f} min.")
    lines.append("")
    same = res["same_predictions"]
    lines.append("Predictions on the payload rows, as one batch: " + ("; ".join(
        f"{model}: " + ", ".join(f"{k} {'same as MLflow' if v else 'DIFFERENT from MLflow'}" for k, v in chk.items())
        for model, chk in same.items() if chk) or "not compared (MLflow or mlproj not measured)") + ".")
    return "\n".join(lines).rstrip() + "\n"


# ---------------------------------------------------------------- main

def start_servers(models: list[str], workers: list[int], mlflow_workers: list[int], tmp: Path,
                  envs: dict[str, dict], args, have_mlproj: bool, servers: list[Server]) -> None:
    "Start every server once, appending each to `servers` as soon as it runs (so it is stopped on any error)."
    host = ["--host", "127.0.0.1", "--workers"]
    for w in workers:
        noop_cmd = [str(PY), "-m", "uvicorn", "noop_app:app", "--app-dir", str(HERE)]
        if not args.noop_access_log:
            noop_cmd.append("--no-access-log")
        servers.append(Server("noop", None, w))
        start(servers[-1], [*noop_cmd, *host, str(w)], envs[models[0]], tmp, "/health", args.start_timeout)
    for model in models:
        project, env = tmp / model, envs[model]
        for w in mlflow_workers:
            servers.append(Server("mlflow", model, w))
            start(servers[-1], [str(PY), "-m", "mlflow", "models", "serve", "-m", f"models:/{REF}",
                                "--env-manager", "local", *host, str(w)],
                  mlflow_env(project, env), project, "/ping", args.start_timeout)
        for w in workers if have_mlproj else []:
            servers.append(Server("mlproj", model, w))
            start(servers[-1], [str(MLPROJ), "serve", "--model", REF, *host, str(w)], env, project, "/ready",
                  args.start_timeout)
            status, meta = post(servers[-1].port, "/metadata", None, "GET")  # which path answers
            servers[-1].info["inference_path"] = meta.get("inference_path") if status == 200 else None
            servers[-1].info["inference"] = meta.get("inference") if status == 200 else f"/metadata: {status}"
            log(f"{servers[-1].name}: {servers[-1].info['inference']}")


def plan(models: list[str], workers: list[int], servers: list[Server], records: dict, tmp: Path) -> list[Endpoint]:
    "What each round measures: at 1 worker every endpoint, with more only the no-op, /predict (and MLflow if started)."
    find = {(s.kind, s.model, s.workers): s for s in servers}
    eps = []
    for model in models:
        one = [json.dumps(r, allow_nan=False).encode() for r in records[model]]
        mlflow_style = [json.dumps({"dataframe_records": [r]}, allow_nan=False).encode() for r in records[model]]
        for w in workers:
            for key, (_, path, mlflow_body, kind) in ENDPOINTS.items():
                srv = find.get((kind, None if kind == "noop" else model, w))
                if srv is None or (w != 1 and key == "mlproj-invocations"):
                    continue
                script = tmp / "lua" / f"{model}-{key}-w{w}.lua"
                script.parent.mkdir(exist_ok=True)
                bodies = mlflow_style if mlflow_body else one
                write_lua(script, path, bodies)
                eps.append(Endpoint(model, w, key, srv, bodies, script))
    return eps


def compare_predictions(models: list[str], servers: list[Server], records: dict) -> dict:
    "Per model: all payload rows as one batch to MLflow and to mlproj's two endpoints; mlproj's answer == MLflow's?"
    out: dict = {}
    for model in models:
        srv = {s.kind: s for s in sorted(servers, key=lambda s: -s.workers) if s.model == model}
        answers = {}
        for key, (label, path, mlflow_body, kind) in ENDPOINTS.items():
            if kind not in srv:
                continue
            status, answer = post(srv[kind].port, path, {"dataframe_records": records[model]} if mlflow_body
                                  else records[model])
            if status != 200 or not isinstance(answer, dict) or "predictions" not in answer:
                raise RuntimeError(f"{model}: {label}: batch check answered {status}: {str(answer)[:500]}")
            answers[key] = answer["predictions"]
        out[model] = {k: v == answers["mlflow"] for k, v in answers.items()
                      if k.startswith("mlproj")} if "mlflow" in answers else {}
        log(f"{model}: predictions of the {len(records[model])} payload rows: {out[model] or 'not compared'}")
    return out


def idle_check(servers: list[Server], seconds: float = 2.0) -> dict:
    "Cores each (idle) server uses over `seconds`, once all are started."
    pgids = [s.pgid for s in servers]
    a, t = groups_cpu_seconds(pgids), time.perf_counter()
    time.sleep(seconds)
    b, wall = groups_cpu_seconds(pgids), time.perf_counter() - t
    out = {s.name: round((b[s.pgid] - a[s.pgid]) / wall, 4) for s in servers}
    log(f"idle servers, cores over {seconds:.0f}s: {out}")
    return out


def run_rounds(eps: list[Endpoint], servers: list[Server], args) -> list[dict]:
    "`args.rounds` rounds over `eps`, each starting a further third (1/rounds) of the list along."
    pgids, rounds = [s.pgid for s in servers], []
    for r in range(args.rounds):
        k = r * len(eps) // args.rounds
        order = eps[k:] + eps[:k]
        log(f"round {r + 1}/{args.rounds}: {len(order)} endpoints, starting with {order[0].name}")
        rounds.append({"round": r + 1, "order": [e.name for e in order],
                       "measured": [measure(e, pgids, args, r == 0) for e in order]})
    return rounds


def csv_ints(text: str, what: str, ap: argparse.ArgumentParser) -> list[int]:
    try:
        out = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        out = []
    if not out or min(out) < 1:
        ap.error(f"{what} takes positive integers separated by commas, e.g. 1,2; got {text!r}")
    return sorted(set(out))


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", default="wide,narrow", help="models to measure: wide, narrow or both (default both)")
    ap.add_argument("--workers", default="1,2", help="mlproj and no-op worker counts (default 1,2)")
    ap.add_argument("--mlflow-workers", default="1", help="worker counts of `mlflow models serve` (default 1)")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds, at least 3 (default 3)")
    ap.add_argument("--requests", type=int, default=1000, help="sequential requests per endpoint and round (default 1000)")
    ap.add_argument("--warmup", type=int, default=50, help="discarded warm-up requests (default 50)")
    ap.add_argument("--payloads", type=int, default=200, help="distinct holdout rows cycled through (default 200)")
    ap.add_argument("--duration", type=int, default=10, help="wrk seconds per endpoint and round (default 10)")
    ap.add_argument("--wrk-warmup", type=int, default=2,
                    help="discarded wrk seconds before each endpoint's first run (default 2)")
    ap.add_argument("--connections", type=int, default=8, help="wrk connections (default 8)")
    ap.add_argument("--wrk-threads", type=int, default=2, help="wrk threads (default 2)")
    ap.add_argument("--quiet-wait", type=float, default=2.0,
                    help="seconds to wait at most for a quiet machine before each phase (default 2)")
    ap.add_argument("--inproc-requests", type=int, default=2000,
                    help="requests timed through each ASGI app in process (default 2000)")
    ap.add_argument("--stage-repeats", type=int, default=2000,
                    help="requests timed by stage_breakdown per model (default 2000)")
    ap.add_argument("--rows", type=int, default=20_000, help="demo rows to train on (default 20000)")
    ap.add_argument("--threads", type=int, default=0,
                    help="pin OMP/OPENBLAS/MKL and MLPROJ_TRAIN_N_THREADS for all servers (default 0: leave them)")
    ap.add_argument("--noop-access-log", action="store_true",
                    help="keep uvicorn's access log on for the no-op app (default off: the ceiling)")
    ap.add_argument("--start-timeout", type=float, default=180, help="seconds a server may take to be ready")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder (server logs in logs/)")
    ap.add_argument("--reuse", metavar="DIR", help="reuse a folder kept with --keep (its models; no training)")
    ap.add_argument("--out", default=str(HERE / "results-serve.json"), help="results file")
    ap.add_argument("--in-process", metavar="PAYLOADS", help=argparse.SUPPRESS)  # child mode, see in_process
    args = ap.parse_args()
    if args.in_process:
        return args
    args.models = [m.strip() for m in args.models.split(",") if m.strip()]
    if not args.models or set(args.models) - set(MODELS):
        ap.error(f"--models takes {' and/or '.join(MODELS)}, separated by commas; got {','.join(args.models)!r}")
    args.models = [m for m in MODELS if m in args.models]
    args.workers = csv_ints(args.workers, "--workers", ap)
    args.mlflow_workers = csv_ints(args.mlflow_workers, "--mlflow-workers", ap)
    if args.requests < 1000:
        ap.error(f"--requests must be at least 1000 (the issue's minimum); got {args.requests}")
    if args.rounds < 3:
        ap.error(f"--rounds must be at least 3 (medians of at least three rounds, issue 14); got {args.rounds}")
    return args


def stop_on_sigterm() -> None:
    "SIGTERM ends the run like Ctrl-C does: through the `finally` that stops the servers."
    def handler(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, handler)


def main() -> None:
    args = parse_args()
    if args.in_process:
        in_process_main(Path(args.in_process), args.inproc_requests, args.warmup, args.stage_repeats)
        return
    if not shutil.which("wrk"):
        print(WRK_MISSING, file=sys.stderr)
        sys.exit(2)
    stop_on_sigterm()
    t_start, load_start = time.perf_counter(), os.getloadavg()
    tmp = Path(args.reuse).resolve() if args.reuse else Path(tempfile.mkdtemp(prefix="mlproj-bench-serve-"))
    missing = [m for m in args.models if not (tmp / m / "train.json").is_file()]
    if args.reuse and missing:
        print(f"serve.py: --reuse {tmp}: no {missing[0]}/train.json there; keep the folder of an earlier run of "
              f"this version with --keep, or drop --reuse to train again.", file=sys.stderr)
        sys.exit(2)
    servers: list[Server] = []
    try:
        envs = {m: base_env(tmp / m, args.threads or None) for m in args.models}
        have_mlproj = mlproj_serve_available(envs[args.models[0]])
        if not have_mlproj:
            log("`mlproj serve` is not available (`mlproj serve --help` failed): measuring MLflow and the no-op only")
        trained, records = {}, {}
        for m in args.models:
            trained[m], records[m] = prepare(m, tmp / m, envs[m], args.rows, args.payloads, bool(args.reuse))
        inproc = {m: in_process(m, tmp / m, envs[m], records[m], args) for m in args.models} if have_mlproj else {}
        start_servers(args.models, args.workers, args.mlflow_workers, tmp, envs, args, have_mlproj, servers)
        idle = idle_check(servers)
        same = compare_predictions(args.models, servers, records)
        rounds = run_rounds(plan(args.models, args.workers, servers, records, tmp), servers, args)
        stop_all(servers)
        log(f"stopped {len(servers)} servers")
        summary = summarize(rounds)
        res: dict = {
            "when": datetime.now(timezone.utc).isoformat(timespec="seconds"), "machine": machine_info(),
            "duration_s": round(time.perf_counter() - t_start, 1),
            "loadavg": {"start": load_start, "end": os.getloadavg()},
            "config": {k: getattr(args, k) for k in (
                "models", "workers", "mlflow_workers", "rounds", "requests", "warmup", "payloads", "duration",
                "wrk_warmup", "connections", "wrk_threads", "quiet_wait", "inproc_requests", "stage_repeats",
                "noop_access_log")} | {
                "rows": sum(1 for _ in open(tmp / args.models[0] / "churn.csv")) - 1,
                "threads": args.threads or None, "model": REF,
                "wrk_version": subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.splitlines()[0],
                "server_libraries": libraries(),
                "server_env": {k: envs[args.models[0]].get(k) for k in (*THREAD_VARS, "MLPROJ_TRAIN_N_THREADS")}},
            "models": {m: {"columns": MODELS[m] or "all", "n_columns": len(records[m][0]),
                           "train": {k: trained[m].get(k) for k in ("run_id", "artifact", "metrics", "tracking")}}
                       for m in args.models},
            "mlproj_serve_available": have_mlproj,
            "servers": {s.name: s.info for s in servers}, "idle_servers_cores": idle,
            "summary": summary, "targets": targets(summary, args.models), "issue5": issue5(summary),
            "scaling": scaling(summary, args.workers), "in_process": inproc, "same_predictions": same,
            "rounds": rounds,
        }
        Path(args.out).write_text(json.dumps(res, indent=1) + "\n")
        log(f"wrote {args.out}")
        print(markdown(res))
    finally:
        stop_all(servers)
        if args.keep or args.reuse:
            log(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()

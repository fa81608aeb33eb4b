"""Recommendation through the `mlproj` command: top-10 for 10,000 users over a ~10,000-item catalogue with
`mlproj score` (target <= 5 s, process start and model load included), and one user's top-10 from
`mlproj serve` (target p50 <= 5 ms, HTTP included), on generated interactions (`make_interactions`).

    .venv/bin/python benchmarks/recommend_cli.py [--repeats 3] [--requests 300]
"""

import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
MLPROJ = [sys.executable, "-m", "mlproj"]
ENV = {**os.environ, "MLPROJ_TRACKING_ENABLED": "false", "MLPROJ_TRAIN_CACHE_DIR": ""}


def run(args: list[str], cwd: Path) -> float:
    t = time.perf_counter()
    proc = subprocess.run(MLPROJ + args, cwd=cwd, env=ENV, capture_output=True, text=True)
    if proc.returncode:
        sys.exit(f"mlproj {' '.join(args)} failed: {proc.stderr[-2000:]}")
    return time.perf_counter() - t


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve_p50(cwd: Path, user: str, n: int) -> tuple[float, float]:
    port = free_port()
    srv = subprocess.Popen(MLPROJ + ["serve", "--model", "models/latest", "--port", str(port)], cwd=cwd, env=ENV,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(600):
            try:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                c.request("GET", "/health")
                health = c.getresponse()
                health.read()
                if health.status == 200:
                    break
            except OSError:
                time.sleep(0.1)
        body = json.dumps({"user": user})
        times = []
        for i in range(n + 20):
            t = time.perf_counter()
            c.request("POST", "/predict", body, {"content-type": "application/json"})
            r = c.getresponse()
            out = json.loads(r.read())
            if i >= 20:  # warm-up first
                times.append(time.perf_counter() - t)
        assert r.status == 200 and len(out["predictions"][0]) == 10, out
        times.sort()
        return 1000 * statistics.median(times), 1000 * times[int(0.95 * len(times))]
    finally:
        srv.terminate()
        srv.wait(30)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--requests", type=int, default=300)
    a = ap.parse_args()
    import pandas as pd

    from mlproj.modeling.interactions import make_interactions

    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        df = make_interactions(n_users=10_000, n_items=10_000, seed=0)
        df.to_parquet(d / "interactions.parquet")
        users = df["user"].drop_duplicates()
        pd.DataFrame({"user": users}).to_csv(d / "users.csv", index=False)
        fit = run(["train", "--task", "recommendation", "--data", "interactions.parquet", "--user", "user",
                   "--item", "item", "--time", "time", "--cv-folds", "2", "--n-bootstrap", "20", "--quiet"], d)
        scores = [run(["score", "--model", "models/latest", "--data", "users.csv", "--out", "recs.csv", "--quiet"], d)
                  for _ in range(a.repeats)]
        recs = pd.read_csv(d / "recs.csv")
        assert len(recs) == len(users) and recs["item_10"].notna().all()
        p50, p95 = serve_p50(d, str(users.iloc[0]), a.requests)
    print(f"data: {len(df):,} interactions, {len(users):,} users, {df['item'].nunique():,} items (generated)")
    print(f"mlproj train (default model, CV on one inner split, 20 bootstrap resamples): {fit:.1f} s")
    print(f"mlproj score, top-10 for {len(users):,} users: median {statistics.median(scores):.2f} s "
          f"(runs {', '.join(f'{s:.2f}' for s in scores)}), target <= 5 s: {statistics.median(scores) <= 5}")
    print(f"mlproj serve, one user's top-10 over HTTP ({a.requests} requests, keep-alive): p50 {p50:.2f} ms, "
          f"p95 {p95:.2f} ms, target p50 <= 5 ms: {p50 <= 5}")
    print(f"load average: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()

"""`mlproj serve` as a real uvicorn process on 127.0.0.1 with an ephemeral port, exercised over HTTP:
every endpoint, bad requests, an MLflow client, auth, reloads under load, the prediction log on
SIGTERM, a bounded load test and a bounded schemathesis run."""

import http.client
import json
import math
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import requests
from conftest import run_cli

from mlproj.core.settings import load_settings
from mlproj.data.sources import make_demo_data
from mlproj.lifecycle.registry import load_model

pytestmark = pytest.mark.slow

FAST = ["--cv-folds", "3", "--n-bootstrap", "20", "--quiet"]
ENV = {"MLPROJ_SERVE_THREADS": "1", "MLPROJ_SERVE_FLUSH_SECONDS": "0.2"}


class Server:
    "`mlproj serve` in a subprocess; `url` once it listens."

    def __init__(self, cwd: Path, *args: str, env: dict | None = None, timeout: float = 120):
        self.cwd = cwd
        self.out, self.err = (
            cwd / f"serve-{time.monotonic_ns()}.out",
            cwd / f"serve-{time.monotonic_ns()}.err",
        )
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "mlproj", "serve", "--port", "0", *args],
            cwd=cwd,
            env={**os.environ, **ENV, **(env or {})},
            stdout=self.out.open("w"),
            stderr=self.err.open("w"),
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.out.read_text()
            if " at http://" in line:
                self.url = line.split(" at ")[1].split()[0]
                self.port = int(self.url.rsplit(":", 1)[1])
                self.url = (
                    f"http://127.0.0.1:{self.port}"  # also when it binds 0.0.0.0: talk to it over loopback
                )
                break
            assert self.proc.poll() is None, f"mlproj serve exited: {self.err.read_text()[-3000:]}"
            time.sleep(0.1)
        else:
            raise AssertionError("mlproj serve did not print its URL")
        while time.monotonic() < deadline:  # the URL is printed when the socket listens; wait for the app
            try:
                if requests.get(self.url + "/ready", timeout=5).status_code == 200:
                    return
            except requests.ConnectionError:
                pass
            assert self.proc.poll() is None, f"mlproj serve exited: {self.err.read_text()[-3000:]}"
            time.sleep(0.1)
        raise AssertionError(f"{self.url}/ready did not answer: {self.err.read_text()[-3000:]}")

    def get(self, path: str, **kw) -> requests.Response:
        return requests.get(self.url + path, timeout=30, **kw)

    def post(self, path: str, body=None, **kw) -> requests.Response:
        return (
            requests.post(self.url + path, json=body, timeout=60, **kw)
            if body is not None
            else requests.post(self.url + path, timeout=60, **kw)
        )

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("mlproj serve did not stop on SIGTERM") from None


def _train(project: Path, *args: str, env: dict | None = None) -> dict:
    proc = run_cli(
        "train", "--data", "churn.csv", "--target", "churned", "--json", *FAST, *args, cwd=project, env=env
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def _records(df: pd.DataFrame) -> list[dict]:
    "JSON-ready records: NaN becomes null, as a client would send it."
    return [
        {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()}
        for r in df.to_dict("records")
    ]


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("serve")
    (d / "settings.ini").write_text("[serve]\nlog = predictions.sqlite\n")
    make_demo_data(n_rows=2000, random_state=0).to_csv(d / "churn.csv", index=False)
    make_demo_data(n_rows=300, random_state=1).drop(columns="churned").to_csv(d / "new.csv", index=False)
    return d


@pytest.fixture(scope="module")
def model_dir(project: Path) -> Path:
    return project / _train(project, "--model", "hgb")["artifact"]


@pytest.fixture(scope="module")
def server(project: Path, model_dir: Path):
    srv = Server(project, "--model", str(model_dir))
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def new_rows(project: Path) -> pd.DataFrame:
    return pd.read_csv(project / "new.csv")


def test_predict_matches_the_pipeline(
    server: Server, model_dir: Path, new_rows: pd.DataFrame, project: Path
) -> None:
    model, meta, _ = load_model(model_dir, load_settings(project_dir=project, env={}))
    r = server.post("/predict", _records(new_rows))
    assert r.status_code == 200, r.text
    out = r.json()
    want = model.predict_proba(new_rows)
    got = np.array([[p[str(c)] for c in model.classes_] for p in out["probabilities"]])
    assert np.abs(got - want).max() <= 1e-9  # the fast path's stated tolerance
    assert out["predictions"] == model.predict(new_rows).tolist()
    assert out["model"]["run_id"] == meta["run_id"] and r.headers["X-Request-ID"] == out["request_id"]
    one = server.post("/predict", _records(new_rows.head(1))[0], headers={"X-Request-ID": "req-1"})
    assert (
        one.status_code == 200 and one.json()["request_id"] == "req-1" and len(one.json()["predictions"]) == 1
    )
    # unseen category and unknown field: scored, and said so in the body and a header
    odd = {**_records(new_rows.head(1))[0], "plan": "platinum", "colour": "red"}
    w = server.post("/predict", odd)
    assert w.status_code == 200 and "plan: unseen category (1)" in w.json()["warnings"]
    assert "colour: unknown field, ignored (1)" in json.loads(w.headers["X-Mlproj-Warnings"])


def _raw(server: Server, path: str, data: bytes | str, headers: dict | None = None, method: str = "POST"):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    conn.request(method, path, data, {"Content-Type": "application/json", **(headers or {})})
    r = conn.getresponse()
    body = r.read()
    conn.close()
    return r.status, json.loads(body) if body else {}


def test_bad_requests_get_4xx_with_one_sentence(server: Server, new_rows: pd.DataFrame) -> None:
    good = _records(new_rows.head(1))[0]
    cases = [
        (b'{"plan": ', 422, "not valid JSON"),
        (b"", 422, "body is empty"),
        (b"[]", 422, "empty list"),
        (b'"text"', 422, "JSON object"),
        (
            json.dumps({k: v for k, v in good.items() if k != "tenure_months"}),
            422,
            "'tenure_months': missing",
        ),
        (
            json.dumps({("tenure_month" if k == "tenure_months" else k): v for k, v in good.items()}),
            422,
            "field 'tenure_months': missing; unknown field 'tenure_month' — did you mean 'tenure_months'?",
        ),
        (json.dumps({**good, "tenure_months": "long"}), 422, "'tenure_months'"),
        (json.dumps({**good, "autopay": "maybe"}), 422, "'autopay'"),
        (json.dumps({**good, "signup_date": "yesterday"}), 422, "'signup_date'"),
        (json.dumps({**good, "monthly_usage": float("nan")}), 422, "NaN"),
        (json.dumps([good, {**good, "support_calls": float("inf")}]), 422, "record 1"),
        (json.dumps([{}] * 10_001), 413, "max_records"),
        (b"[" + b"1," * 600_000 + b"1]", 413, "max_body_bytes"),
    ]
    for body, status, words in cases:
        got, detail = _raw(server, "/predict", body)
        assert (got, words) == (status, words) and words in detail["detail"], (body[:80], got, detail)
        assert "\n" not in detail["detail"] and detail["detail"].endswith(".")
    assert _raw(server, "/nowhere", b"{}", method="GET")[0] == 404
    assert _raw(server, "/predict", b"", method="GET")[0] == 405
    assert _raw(server, "/invocations", b'{"columns": []}')[1]["error_code"] == "BAD_REQUEST"
    metrics = server.get("/metrics").text
    assert not [line for line in metrics.splitlines() if 'status="5' in line]


def test_mlflow_clients_work_unchanged(
    server: Server, model_dir: Path, new_rows: pd.DataFrame, project: Path
) -> None:
    from mlflow.pyfunc.scoring_server.client import ScoringServerClient

    model, _, _ = load_model(model_dir, load_settings(project_dir=project, env={}))
    want = model.predict(new_rows).tolist()
    client = ScoringServerClient("127.0.0.1", server.port)
    client.wait_server_ready(timeout=30)
    resp = client.invoke(new_rows)  # dataframe_split, missing values as NaN
    assert resp["predictions"] == want
    recs = _records(new_rows)
    for body in (
        {"dataframe_records": recs},
        {"instances": recs},
        {"inputs": {c: [r[c] for r in recs] for c in new_rows.columns}},
    ):
        r = server.post("/invocations", body)
        assert r.status_code == 200 and r.json() == {"predictions": want}, r.text[:300]
    csv = new_rows.to_csv(index=False)
    r = requests.post(server.url + "/invocations", data=csv, headers={"Content-Type": "text/csv"}, timeout=30)
    assert r.status_code == 200 and r.json()["predictions"] == want


def test_health_ready_metadata_metrics_docs(server: Server, model_dir: Path) -> None:
    assert server.get("/health").json() == {"status": "ok"}
    ready = server.get("/ready").json()
    # a HistGradientBoosting model answers through its trees compiled to C (issue 14), proven equal at start-up
    assert ready["status"] == "ready" and ready["inference"].startswith("compiled model"), ready
    assert ready["inference_path"] == "compiled"
    meta = server.get("/metadata").json()
    meta_file = json.loads((model_dir / "metadata.json").read_text())
    assert meta["model"]["run_id"] == meta_file["run_id"] and meta["classes"] == ["no", "yes"]
    assert {c["name"] for c in meta["contract"]["columns"]} >= {"plan", "tenure_months", "signup_date"}
    assert meta["metrics"] == meta_file["metrics"] and meta["data_sha256"] == meta_file["data_sha256"]
    schema = server.get("/openapi.json").json()
    body = schema["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert {"plan", "tenure_months", "autopay"} <= set(body["anyOf"][0]["properties"])
    assert "tenure_months" in body["anyOf"][0]["required"] and server.get("/docs").status_code == 200
    server.post(
        "/predict",
        [
            {
                "plan": "basic",
                "tenure_months": 1,
                "monthly_usage": 2,
                "support_calls": 0,
                "autopay": True,
                "signup_date": "2020-01-01",
            }
        ],
    )
    m = server.get("/metrics").text
    n_ok = [
        line
        for line in m.splitlines()
        if line.startswith('mlproj_http_requests_total{endpoint="/predict",method="POST",status="200"}')
    ]
    assert n_ok and float(n_ok[0].split()[-1]) >= 1
    by_path = [line for line in m.splitlines() if line.startswith("mlproj_inference_records_total{")]
    assert by_path and all('path="compiled"' in line for line in by_path), by_path  # the metrics say which path
    counted = [
        float(line.split()[-1]) for line in m.splitlines() if line.startswith("mlproj_predictions_total{")
    ]
    assert sum(counted) >= 1
    assert 'mlproj_http_request_duration_seconds_bucket{endpoint="/predict",le="0.005"}' in m
    assert "mlproj_input_warnings_total" in m


def test_bearer_token(project: Path, model_dir: Path, new_rows: pd.DataFrame) -> None:
    srv = Server(project, "--model", str(model_dir), env={"MLPROJ_SERVE_TOKEN": "s3cret"})
    try:
        rec = _records(new_rows.head(1))[0]
        r = srv.post("/predict", rec)
        assert (
            r.status_code == 401
            and r.headers["WWW-Authenticate"] == "Bearer"
            and "Bearer" in r.json()["detail"]
        )
        assert srv.post("/predict", rec, headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert srv.post("/reload").status_code == 401
        assert srv.post("/invocations", {"dataframe_records": [rec]}).status_code == 401
        assert srv.post("/predict", rec, headers={"Authorization": "Bearer s3cret"}).status_code == 200
        assert srv.get("/health").status_code == 200 and srv.get("/ready").status_code == 200
    finally:
        assert srv.stop() == 0


def _hammer(
    url: str, body: bytes, seconds: float, statuses: Counter, seen: set, stop: threading.Event | None = None
):
    host, port = url.split("//")[1].split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not (stop and stop.is_set()):
        try:
            conn.request("POST", "/predict", body, {"Content-Type": "application/json"})
            r = conn.getresponse()
            data = r.read()
            statuses[r.status] += 1
            if r.status == 200:
                seen.add(json.loads(data)["model"]["run_id"])
        except (OSError, http.client.HTTPException) as e:
            statuses[type(e).__name__] += 1
            conn.close()
            conn = http.client.HTTPConnection(host, int(port), timeout=30)
    conn.close()


def test_load_8_clients_10_seconds_no_server_errors(server: Server, new_rows: pd.DataFrame) -> None:
    recs = _records(new_rows)
    bodies = [json.dumps(recs[i]).encode() for i in range(7)] + [b'{"plan": 1}']  # one client sends bad input
    statuses: Counter = Counter()
    threads = [threading.Thread(target=_hammer, args=(server.url, b, 10, statuses, set())) for b in bodies]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert statuses[200] > 100 and statuses[422] > 10
    assert set(statuses) == {200, 422}, statuses  # no 5xx, no dropped connection


# schemathesis' defaults, plus 413 where it is the right answer. Rejecting invalid data: a list over maxItems
# ([serve] max_records) is refused with 413 Content Too Large, which schemathesis' list of rejections lacks.
# Accepting valid data: a list within maxItems can still exceed [serve] max_body_bytes, a limit in bytes that no
# JSON Schema keyword can state; the document gives the 413 for it.
SCHEMATHESIS_TOML = """
[checks.negative_data_rejection]
expected-statuses = ["400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428", "429", "5XX"]
[checks.positive_data_acceptance]
expected-statuses = ["2XX", "3XX", "401", "403", "404", "409", "413", "429", "5XX"]
"""


def _schemathesis(server: Server, *args: str) -> subprocess.CompletedProcess:
    "`st run --checks all` on the server's OpenAPI document, bounded and deterministic."
    st = Path(sys.executable).with_name("st")
    config = server.cwd / "schemathesis.toml"
    config.write_text(SCHEMATHESIS_TOML)
    return subprocess.run(
        [
            str(st),
            "--config-file",
            str(config),
            "run",
            server.url + "/openapi.json",
            "--checks",
            "all",
            "--max-examples",
            "20",
            "--generation-deterministic",
            "--phases",
            "examples,coverage,fuzzing",
            "--continue-on-failure",
            "--no-color",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=400,
        cwd=server.cwd,  # schemathesis keeps a .schemathesis/ folder there
    )


def test_schemathesis_finds_the_document_truthful(server: Server) -> None:
    proc = _schemathesis(server)
    assert proc.returncode == 0, proc.stdout[-6000:]
    assert "No issues found" in proc.stdout and "Tested: 9" in proc.stdout  # every operation, incl. /predict


def test_schemathesis_with_a_token(project: Path, model_dir: Path) -> None:
    "With a token the document declares the bearer scheme; requests without it must get the documented 401."
    srv = Server(project, "--model", str(model_dir), env={"MLPROJ_SERVE_TOKEN": "s3cret"})
    try:
        doc = srv.get("/openapi.json").json()
        assert doc["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
        assert doc["paths"]["/reload"]["post"]["security"] == [{"HTTPBearer": []}]
        proc = _schemathesis(srv, "-H", "Authorization: Bearer s3cret")
        assert proc.returncode == 0, proc.stdout[-6000:]
        assert "No issues found" in proc.stdout and "Tested: 9" in proc.stdout
    finally:
        assert srv.stop() == 0


def test_openapi_documents_the_answers(server: Server) -> None:
    doc = server.get("/openapi.json").json()
    paths = doc["paths"]
    assert list(paths["/metrics"]["get"]["responses"]["200"]["content"]) == ["text/plain"]
    assert server.get("/metrics").headers["content-type"].startswith("text/plain")
    predict = paths["/predict"]["post"]["responses"]
    assert sorted(predict) == ["200", "413", "422"]  # no token: no 401
    assert predict["422"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ErrorAnswer"
    }
    invocations = paths["/invocations"]["post"]
    assert invocations["responses"]["422"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/MlflowErrorAnswer"
    }
    assert sorted(paths["/reload"]["post"]["responses"]) == ["200", "409"]
    formats = invocations["requestBody"]["content"]["application/json"]["schema"]["oneOf"]
    records = formats[0]["properties"]["dataframe_records"]
    split = formats[1]["properties"]["dataframe_split"]["properties"]
    assert records["minItems"] == 1 and split["data"]["minItems"] == 1
    assert [c["const"] for c in split["columns"]["prefixItems"]][:2] == ["plan", "tenure_months"]
    assert server.post("/invocations", {"dataframe_records": []}).status_code == 422  # as the schema now says
    r = server.post("/invocations", {"dataframe_split": {"columns": ["plan", {}], "data": [[None, None]]}})
    assert r.status_code == 422 and "column names (strings)" in r.json()["message"]  # was a 500
    good = {
        "plan": "basic",
        "tenure_months": 1,
        "monthly_usage": 2,
        "support_calls": 0,
        "autopay": True,
        "signup_date": "2020-01-01",
    }
    for field, value, words in [
        ("signup_date", 20200101, "a date must be ISO 8601 text"),  # was read as Unix time: 1970-08-22
        ("support_calls", False, "a number is expected; got false"),
    ]:
        r = server.post("/predict", {**good, field: value})
        assert r.status_code == 422 and words in r.json()["detail"], r.text
    assert server.post("/predict", {**good, "autopay": 1, "plan": 3}).status_code == 200  # as documented


def test_exposure_needs_a_token_or_insecure(project: Path, model_dir: Path) -> None:
    no_token = {**ENV, "MLPROJ_SERVE_TOKEN": ""}
    for args, env in [
        (["--host", "0.0.0.0"], no_token),
        ([], {**no_token, "MLPROJ_SERVE_HOST": "0.0.0.0"}),  # [serve] host
    ]:
        # a model that does not exist: the exposure check comes first
        proc = run_cli(
            "serve", "--model", "no-such-model@champion", "--port", "0", *args, cwd=project, env=env
        )
        assert proc.returncode == 2 and "Traceback" not in proc.stderr and proc.stderr.count("\n") == 1
        assert (
            "refusing to serve on 0.0.0.0 without a token: anyone who can reach it could call /predict and "
            "/reload; set MLPROJ_SERVE_TOKEN" in proc.stderr
        ), proc.stderr
    # bound to every address, but only ever spoken to over 127.0.0.1, and stopped at once
    srv = Server(project, "--model", str(model_dir), "--host", "0.0.0.0", env={"MLPROJ_SERVE_TOKEN": "t0ken"})
    try:
        assert srv.get("/health").status_code == 200 and srv.post("/reload").status_code == 401
    finally:
        assert srv.stop() == 0
    assert "without a token" not in srv.err.read_text()
    srv = Server(project, "--model", str(model_dir), "--host", "0.0.0.0", "--insecure", env=no_token)
    try:
        assert srv.get("/health").status_code == 200
    finally:
        assert srv.stop() == 0
    warned = [line for line in srv.err.read_text().splitlines() if "without a token (--insecure)" in line]
    assert len(warned) == 1, srv.err.read_text()


def test_sigterm_flushes_the_prediction_log(project: Path, model_dir: Path, new_rows: pd.DataFrame) -> None:
    # a flush interval far beyond the test: only the shutdown can write the log
    env = {
        "MLPROJ_SERVE_FLUSH_SECONDS": "3600",
        "MLPROJ_SERVE_FLUSH_ROWS": "100000",
        "MLPROJ_SERVE_LOG": "plog",
    }
    srv = Server(project, "--model", str(model_dir), env=env)
    recs = _records(new_rows)
    ids = set()
    for i in range(40):
        r = srv.post("/predict", recs[i] if i % 2 else recs[i : i + 3])
        assert r.status_code == 200
        ids.add(r.json()["request_id"])
    assert not list((project / "plog").glob("*.parquet"))
    assert srv.stop() == 0
    log = pd.concat(pd.read_parquet(p) for p in (project / "plog").glob("*.parquet"))
    assert len(log) == 20 + 20 * 3 and set(log["request_id"]) == ids
    first = log[log["request_id"] == next(iter(ids))].iloc[0]
    assert set(json.loads(first["inputs"])) >= {"plan", "tenure_months"} and first["latency_ms"] > 0
    assert json.loads(first["prediction"]) in ("yes", "no") and set(json.loads(first["probabilities"])) == {
        "yes",
        "no",
    }


def test_reload_under_load_and_refused_reload(project: Path, model_dir: Path, new_rows: pd.DataFrame) -> None:
    "Serve `models/latest`; retrain; POST /reload while 4 clients keep asking; a tampered model is refused."
    srv = Server(project, "--model", "models/latest")
    try:
        old = srv.get("/ready").json()["model"]["run_id"]
        new_run = _train(project, "--model", "dummy", "--seed", "1")["run_id"]
        body = json.dumps(_records(new_rows.head(1))[0]).encode()
        statuses, seen, stop = Counter(), set(), threading.Event()
        threads = [
            threading.Thread(target=_hammer, args=(srv.url, body, 60, statuses, seen, stop)) for _ in range(4)
        ]
        for t in threads:
            t.start()
        time.sleep(1)
        r = srv.post("/reload")
        time.sleep(1)
        stop.set()
        for t in threads:
            t.join()
        assert r.status_code == 200 and r.json()["reloaded"] is True, r.text
        assert set(statuses) == {200} and seen == {old, new_run}, (statuses, seen)
        assert srv.get("/ready").json()["model"]["run_id"] == new_run
        # a model whose file no longer matches its recorded SHA-256 is not swapped in
        bad_run = _train(project, "--model", "dummy")["run_id"]
        with open(project / "models" / bad_run / "model.joblib", "ab") as f:
            f.write(b"tampered")
        r = srv.post("/reload")
        assert r.status_code == 409 and "kept" in r.json()["detail"] and "SHA-256" in r.json()["detail"], (
            r.text
        )
        assert srv.get("/ready").json()["model"]["run_id"] == new_run
        assert srv.post("/predict", json.loads(body)).status_code == 200
        # SIGHUP reloads too, once the model is good again
        good_run = _train(project, "--model", "dummy")["run_id"]
        srv.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 60
        while srv.get("/ready").json()["model"]["run_id"] != good_run:
            assert time.monotonic() < deadline, "SIGHUP did not reload"
            time.sleep(0.2)
        assert 'mlproj_model_reloads_total{result="refused"} 1.0' in srv.get("/metrics").text
    finally:
        assert srv.stop() == 0


def test_serve_the_champion_then_a_new_champion_with_two_workers(
    tmp_path: Path, project: Path, new_rows: pd.DataFrame
) -> None:
    "The registry path: serve NAME@champion with 2 workers; promote another version; /reload rolls the workers."
    (tmp_path / "settings.ini").write_text("[tracking]\nmodel_name = churn\nagent_idle = 60\n")
    (tmp_path / "churn.csv").symlink_to(project / "churn.csv")
    on = {"MLPROJ_TRACKING_ENABLED": "true"}
    v1 = _train(tmp_path, "--model", "dummy", env=on)
    assert v1["tracking"]["aliases"] == ["champion"]
    srv = Server(
        tmp_path, "--model", "churn@champion", "--workers", "2", env={**on, "MLPROJ_SERVE_THREADS": "1"}
    )
    try:
        rec = _records(new_rows.head(1))[0]
        assert srv.post("/predict", rec).json()["model"]["version"] == "1"
        _train(tmp_path, "--model", "dummy", "--seed", "1", env=on)
        proc = run_cli(
            "models", "promote", "churn/2", "--force", "--reason", "serve test", cwd=tmp_path, env=on
        )
        assert proc.returncode == 0, proc.stderr
        r = srv.post("/reload")
        assert r.status_code == 200 and r.json()["model"].startswith("churn/2"), r.text
        deadline = time.monotonic() + 120
        versions = set()
        while versions != {"2"}:  # both workers replaced
            assert time.monotonic() < deadline, "the workers were not restarted"
            try:
                versions = {srv.post("/predict", rec).json()["model"]["version"] for _ in range(10)}
            except requests.ConnectionError:
                # uvicorn closes a stopping worker's connections that have not sent a request yet: a
                # connection opened at that instant is dropped unanswered, and a client retries it
                versions = set()
            time.sleep(0.2)
        m = srv.get("/metrics").text  # multiprocess mode: the workers' counts added up
        assert 'mlproj_http_requests_total{endpoint="/predict",method="POST",status="200"}' in m
        # each worker process says on stderr what it serves and how (its own log set-up: app_from_env)
        log = srv.err.read_text().splitlines()
        served = [line for line in log if line.startswith(("serving churn/1 (champion): ", "serving churn/2 (champion): "))]
        assert len(served) >= 4, log[-40:]  # 2 workers at start, 2 after the rolling restart
        assert all("max difference from the pipeline" in line for line in served), served  # and how they answer
    finally:
        assert srv.stop() == 0
        from mlproj.lifecycle.tracking import stop_agent

        stop_agent(load_settings(project_dir=tmp_path, env={}))


def test_cli_bad_input(project: Path, server: Server) -> None:
    proc = run_cli("serve", "--model", "no-such-model@champion", cwd=project)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr, (
        proc.stderr
    )
    proc = run_cli("serve", "--model", "models/latest", "--port", str(server.port), cwd=project, env=ENV)
    assert proc.returncode == 2 and f"cannot listen on 127.0.0.1:{server.port}" in proc.stderr, proc.stderr
    proc = run_cli("serve", "--model", "models/latest", "--workers", "0", cwd=project, timeout=60)
    assert proc.returncode == 2 and "--workers" in proc.stderr
    proc = run_cli(
        "serve", "--model", "models/latest", cwd=project, env={"MLPROJ_SERVE_PORT": "70000"}, timeout=60
    )
    assert (
        proc.returncode == 2 and "MLPROJ_SERVE_PORT" in proc.stderr and "between 0 and 65535" in proc.stderr
    )
    (project / "not-a-folder").write_text("")
    bad_log = {"MLPROJ_SERVE_LOG": "not-a-folder/log.sqlite"}
    proc = run_cli(
        "serve", "--model", "models/latest", "--port", "0", cwd=project, env={**ENV, **bad_log}, timeout=60
    )
    assert proc.returncode == 2 and "cannot write the prediction log" in proc.stderr, proc.stderr
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr


def test_a_regressor_in_process(tmp_path: Path) -> None:
    "Regression through FastAPI's test client: predicted values equal the pipeline's and fill the value histogram."
    from fastapi.testclient import TestClient

    from mlproj.deploy.serve import create_app

    (tmp_path / "settings.ini").write_text("[data]\nsource = diabetes\n[serve]\nlog = log.db\n")
    run = _train_default(tmp_path)
    s = load_settings(project_dir=tmp_path, env={})
    model, _, _ = load_model(tmp_path / run["artifact"], s)
    from sklearn.datasets import load_diabetes

    X = load_diabetes(as_frame=True).frame.drop(columns="target").head(50)
    with TestClient(create_app(tmp_path / run["artifact"], s, token="")) as c:
        r = c.post("/predict", json=X.to_dict("records"))
        assert r.status_code == 200 and "probabilities" not in r.json()
        assert np.abs(np.array(r.json()["predictions"]) - model.predict(X)).max() <= 1e-9
        assert c.get("/ping").status_code == 200 and c.get("/version").json()["mlproj"]
        buckets = [
            line
            for line in c.get("/metrics").text.splitlines()
            if line.startswith("mlproj_prediction_value_count")
        ]
        assert buckets and float(buckets[0].split()[-1]) == 50
    assert (
        sqlite3.connect(tmp_path / "log.db").execute("SELECT COUNT(*) FROM predictions").fetchone()[0] == 50
    )


def _train_default(project: Path) -> dict:
    proc = run_cli("train", "--json", *FAST, cwd=project)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_inference_paths_in_process(project: Path, model_dir: Path, new_rows: pd.DataFrame) -> None:
    """Each way of answering (issue 14): a linear model by one matrix product, a tree model compiled to C
    or, without compiling, walked on binned data; a compiler that fails falls back with a warning. Every
    path answers single records as the pipeline does; `stage_breakdown` times the route's own stages."""
    from fastapi.testclient import TestClient

    from mlproj.deploy.routes import stage_breakdown
    from mlproj.deploy.serve import create_app

    linear_dir = project / _train(project, "--model", "linear")["artifact"]
    recs = _records(new_rows.head(25))
    s = load_settings(project_dir=project, env={})
    nocompile = load_settings(project_dir=project, env={"MLPROJ_SERVE_COMPILE": "false"})
    cases = [
        (linear_dir, s, {}, "fast path", "one matrix product"),
        (model_dir, s, {}, "compiled", "trees compiled to C"),
        (model_dir, nocompile, {}, "fast path", "trees walked on binned data"),
        # no compiler and a fresh cache: the trees cannot be compiled, so the binned walk answers
        (model_dir, load_settings(project_dir=project, env={"MLPROJ_TRAIN_CACHE_DIR": "fresh-cache"}),
         {"CC": "/nonexistent/cc"}, "fast path", "trees walked on binned data"),
    ]  # fmt: skip
    for ref, settings, env, path, how in cases:
        old = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        try:
            app = create_app(ref, settings, token="")
        finally:
            for k, v in old.items():
                os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)
        pipeline, _, _ = load_model(ref, settings)
        stages = stage_breakdown(app.state.mlproj, [json.dumps(r).encode() for r in recs], repeats=50)
        assert list(stages) == [
            "parse JSON", "validate", "predict", "warnings", "metrics", "log hand-off", "encode JSON"
        ] and all(v > 0 for v in stages.values()), stages  # fmt: skip
        assert app.state.mlproj.log is None  # not started: it used a temporary log of its own, closed again
        with TestClient(app) as c:
            ready = c.get("/ready").json()
            assert (ready["inference_path"], how in ready["inference"]) == (path, True), ready
            want = pipeline.predict_proba(new_rows.head(25))
            got = [c.post("/predict", json=r).json()["probabilities"][0] for r in recs]  # one record each
            assert np.abs(np.array([[p["no"], p["yes"]] for p in got]) - want).max() <= 1e-9
            metric = f'mlproj_inference_records_total{{path="{path}"}} '
            assert [line for line in c.get("/metrics").text.splitlines() if line.startswith(metric)] == [
                metric + str(25.0 + 50)  # the 50 timed by stage_breakdown count too: the same functions
            ]

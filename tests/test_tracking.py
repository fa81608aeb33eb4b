"""MLflow tracking and the model registry end to end: real `mlproj` processes, the embedded SQLite store,
a real `mlflow server` and `mlflow models serve` on 127.0.0.1, concurrency and SIGKILL."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pandas as pd
import pytest
from conftest import run_cli

from mlproj.core.settings import load_settings

pytestmark = pytest.mark.slow

FAST = ["--cv-folds", "3", "--n-bootstrap", "50", "--quiet"]
ON = {"MLPROJ_TRACKING_ENABLED": "true"}
NAME = "penguin-species"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_http(url: str, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"{proc.args[:3]} exited with {proc.returncode}: {proc.stderr.read()[-2000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise AssertionError(f"{url} did not come up in {timeout} s")


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _client(project: Path):
    import mlflow
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{project}/mlruns.db"
    saved = {k: os.environ.get(k) for k in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")}
    mlflow.set_tracking_uri(uri)  # for mlflow.models.get_model_info; MLflow also exports it to os.environ,
    mlflow.set_registry_uri(uri)  # which would leak into the CLI processes the tests start: undo that
    for k, v in saved.items():
        os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def _train(project: Path, *args: str, env: dict | None = None, cwd: Path | None = None) -> dict:
    proc = run_cli("train", "--json", *FAST, *args, cwd=cwd or project, env={**ON, **(env or {})})
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def _project(path: Path, **tracking: str) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    lines = "".join(f"{k} = {v}\n" for k, v in {"model_name": NAME, "agent_idle": "60", **tracking}.items())
    (path / "settings.ini").write_text(f"[tracking]\n{lines}")
    return path


def _stop_agent(project: Path) -> None:
    from mlproj.lifecycle.tracking import stop_agent

    stop_agent(load_settings(project_dir=project, env={}))


@pytest.fixture(scope="module")
def proj(tmp_path_factory: pytest.TempPathFactory):
    "One project whose registry the lifecycle tests below build up in order."
    d = _project(tmp_path_factory.mktemp("tracked"))
    yield d
    _stop_agent(d)


@pytest.fixture(scope="module")
def versions(proj: Path) -> dict:
    "v1: dummy (champion, first), v2: hgb (challenger)."
    v1 = _train(proj, "--model", "dummy")
    v2 = _train(proj, "--model", "hgb")
    return {"1": v1, "2": v2}


def test_train_records_the_run_and_registers_versions(proj: Path, versions: dict) -> None:
    v1, v2 = versions["1"], versions["2"]
    assert (v1["tracking"]["version"], v1["tracking"]["aliases"]) == ("1", ["champion"])
    assert (v2["tracking"]["version"], v2["tracking"]["aliases"]) == ("2", ["challenger"])
    c = _client(proj)
    run = c.get_run(v2["tracking"]["run_id"])
    assert run.info.status == "FINISHED" and run.info.end_time >= run.info.start_time
    assert run.info.run_name == v2["run_id"]
    p, m, t = run.data.params, run.data.metrics, run.data.tags
    assert p["train.model"] == "hgb" and p["data.source"] == "penguins" and p["run.cv_folds"] == "3"
    assert m["holdout_roc_auc_ci_low"] <= m["holdout_roc_auc"] <= m["holdout_roc_auc_ci_high"]
    assert {"cv_roc_auc_mean", "cv_roc_auc_std", "baseline_holdout_roc_auc", "holdout_log_loss"} <= set(m)
    assert m["holdout_roc_auc"] == pytest.approx(v2["metrics"]["roc_auc"])
    assert t["mlproj.data_sha256"] == v2["data_sha256"] and t["mlproj.task"] == "classification"
    assert t["mlproj.n_rows"] == "344" and t["mlproj.seed"] == "0" and t["mlproj.command"] == "train"
    assert t["mlproj.version.scikit-learn"] and "mlproj.git_dirty" in t
    files = {Path(f.path).name for f in c.list_artifacts(run.info.run_id, "artifact")}
    assert {"model.joblib", "baseline.joblib", "metadata.json", "contract.json"} <= files
    # the store is pinned to the project: nothing lands in MLflow's per-folder defaults
    assert (proj / "mlruns.db").is_file() and (proj / "mlartifacts").is_dir()
    assert not (proj / "mlflow.db").exists() and not (proj / "mlruns").exists()
    # a valid MLflow model with a signature, saved with skops and an explicit list of trusted types
    import mlflow

    info = mlflow.models.get_model_info(f"models:/{NAME}/2")
    assert info.signature is not None
    assert {i.name for i in info.signature.inputs.inputs} >= {"island", "bill_length_mm", "sex"}
    sk = info.flavors["sklearn"]
    assert sk["serialization_format"] == "skops"
    assert "mlproj.modeling.features.to_category_strings" in sk["skops_trusted_types"]
    mv = c.get_model_version(NAME, "2")
    assert mv.tags["mlproj.sha256.model.joblib"] == json.loads(
        (Path(v2["artifact"]) / "metadata.json").read_text()
    )["files"]["model.joblib"]


def test_runs_from_a_subfolder_land_in_the_project_store(proj: Path, versions: dict) -> None:
    sub = proj / "notebooks" / "deep"
    sub.mkdir(parents=True)
    out = _train(proj, "--model", "dummy", "--no-register", cwd=sub)
    assert "version" not in out["tracking"]
    assert _client(proj).get_run(out["tracking"]["run_id"]).info.status == "FINISHED"
    assert not any(p.name in {"mlruns", "mlflow.db", "mlruns.db"} for p in sub.iterdir())


def test_promotion_is_earned_refused_forced_and_rolled_back(proj: Path, versions: dict) -> None:
    c = _client(proj)
    ok = run_cli("models", "promote", f"{NAME}@challenger", cwd=proj, env=ON)
    assert ok.returncode == 0, ok.stderr
    assert "promote: champion 1 -> 2" in ok.stdout and "95% CI" in ok.stdout
    assert str(c.get_model_version_by_alias(NAME, "champion").version) == "2"

    worse = _train(proj, "--model", "dummy")["tracking"]["version"]
    refused = run_cli("models", "promote", f"{NAME}/{worse}", cwd=proj, env=ON)
    assert refused.returncode == 3, refused.stderr
    assert "does not beat the champion beyond noise" in refused.stderr
    assert "paired bootstrap CI" in refused.stderr and "roc_auc" in refused.stderr
    assert str(c.get_model_version_by_alias(NAME, "champion").version) == "2"

    no_reason = run_cli("models", "promote", f"{NAME}/{worse}", "--force", cwd=proj, env=ON)
    assert no_reason.returncode == 2 and "--reason" in no_reason.stderr
    forced = run_cli("models", "promote", f"{NAME}/{worse}", "--force", "--reason", "demo day", cwd=proj, env=ON)
    assert forced.returncode == 0, forced.stderr
    tags = c.get_model_version(NAME, worse).tags
    assert tags["mlproj.force_reason"] == "demo day" and tags["mlproj.forced_by"]

    back = run_cli("models", "rollback", NAME, cwd=proj, env=ON)
    assert back.returncode == 0, back.stderr
    assert str(c.get_model_version_by_alias(NAME, "champion").version) == "2"
    shown = run_cli("models", "show", f"{NAME}@champion", "--json", cwd=proj, env=ON)
    history = json.loads(shown.stdout)["history"]
    assert [e["action"] for e in history if e["alias"] == "champion"] == [
        "initial", "promote", "force-promote", "rollback",
    ]
    assert history[-1]["from"] == worse and history[-1]["to"] == "2"
    unknown = run_cli("models", "rollback", "nosuch-model", cwd=proj, env=ON)
    assert unknown.returncode == 2 and "no registered model 'nosuch-model'" in unknown.stderr
    not_registered = run_cli("models", "promote", versions["1"]["artifact"], cwd=proj, env=ON)
    assert not_registered.returncode == 2 and "is not a registered model version" in not_registered.stderr
    assert "Traceback" not in unknown.stderr + not_registered.stderr
    listed = json.loads(run_cli("models", "list", "--json", cwd=proj, env=ON).stdout)
    assert {r["version"]: r["aliases"] for r in listed if r["name"] == NAME}["2"] == ["champion"]


def test_model_references_are_accepted_by_evaluate(proj: Path, versions: dict) -> None:
    run_id = versions["2"]["tracking"]["run_id"]
    for ref in [f"{NAME}/2", f"models:/{NAME}/2", f"runs:/{run_id}/model", versions["2"]["artifact"]]:
        proc = run_cli("evaluate", "--model", ref, "--json", "--no-track", cwd=proj, env=ON)
        assert proc.returncode == 0, (ref, proc.stderr)
        out = json.loads(proc.stdout)
        assert out["rows"] == "holdout" and out["metrics"]["roc_auc"] == pytest.approx(versions["2"]["metrics"]["roc_auc"])
    tracked = run_cli("evaluate", "--model", f"{NAME}@champion", "--json", cwd=proj, env=ON)
    assert tracked.returncode == 0, tracked.stderr
    run = _client(proj).get_run(json.loads(tracked.stdout)["tracking"]["run_id"])
    assert run.data.tags["mlproj.command"] == "evaluate" and "holdout_roc_auc" in run.data.metrics
    assert run.data.params["evaluate.model"].startswith(f"{NAME}/") and run.data.params["train.seed"] == "0"
    bad = run_cli("evaluate", "--model", "nosuch@champion", cwd=proj, env=ON)
    assert bad.returncode == 2 and "no model 'nosuch@champion'" in bad.stderr and "Traceback" not in bad.stderr
    bad = run_cli("evaluate", "--model", "no/such/path", cwd=proj, env=ON)
    assert bad.returncode == 2 and "no model artifact at no/such/path" in bad.stderr
    bad = run_cli("evaluate", "--model", "justaname", cwd=proj, env=ON)
    assert bad.returncode == 2 and "NAME@alias" in bad.stderr


def test_promotion_refuses_an_incompatible_contract(proj: Path, tmp_path: Path, versions: dict) -> None:
    from mlproj.data.sources import load_data

    df = load_data("penguins")
    base, extra = tmp_path / "base.csv", tmp_path / "extra.csv"
    df.to_csv(base, index=False)
    # a real feature: a column of 0..n-1 would be dropped as row numbers, and the contracts would agree
    df.assign(tag_weight=[(7 * i) % 50 / 10 for i in range(len(df))]).to_csv(extra, index=False)
    _train(proj, "--data", str(base), "--target", "species", "--model", "dummy", "--register", "contracts")
    _train(proj, "--data", str(extra), "--target", "species", "--model", "hgb", "--register", "contracts")
    proc = run_cli("models", "promote", "contracts@challenger", "--data", str(extra), cwd=proj, env=ON)
    assert proc.returncode == 3, proc.stderr
    assert "not compatible" in proc.stderr and "tag_weight" in proc.stderr
    same_split = run_cli("models", "promote", "contracts@challenger", cwd=proj, env=ON)
    assert same_split.returncode == 3 and "not trained on the same data split" in same_split.stderr


def test_a_tampered_model_is_refused_before_unpickling(proj: Path, versions: dict) -> None:
    s = load_settings(project_dir=proj, env={})
    from mlproj.lifecycle.registry import resolve_model

    rm = resolve_model(f"{NAME}/1", s)
    with open(rm.path / "model.joblib", "ab") as f:  # the downloaded copy
        f.write(b"\0")
    proc = run_cli("evaluate", "--model", f"{NAME}/1", "--no-track", cwd=proj, env=ON)
    assert proc.returncode == 2 and "does not match the SHA-256 recorded in the model registry" in proc.stderr
    # the artifact store's copy: changed there, and the local copy gone
    run_id = versions["1"]["tracking"]["run_id"]
    stored = next((proj / "mlartifacts").glob(f"*/{run_id}/artifacts/artifact/model.joblib"))
    stored.write_bytes(stored.read_bytes() + b"\0")
    import shutil

    shutil.rmtree(rm.path.parent)
    proc = run_cli("evaluate", "--model", f"{NAME}/1", "--no-track", cwd=proj, env=ON)
    assert proc.returncode == 2 and "SHA-256" in proc.stderr and "Traceback" not in proc.stderr


def test_reproduce(proj: Path, tmp_path: Path, versions: dict) -> None:
    run_id = versions["2"]["tracking"]["run_id"]
    proc = run_cli("reproduce", run_id, cwd=proj, env=ON)
    assert proc.returncode == 0, proc.stderr
    assert "holdout predictions: identical" in proc.stdout and "reproduced: identical" in proc.stdout
    out = json.loads(run_cli("reproduce", run_id, "--json", cwd=proj, env=ON).stdout)
    assert out["identical"] and out["max_abs_diff"] == 0.0 and len(out["metrics"]) > 20
    # data that changed since: refused, with the hashes
    csv = tmp_path / "p.csv"
    from mlproj.data.sources import load_data

    load_data("penguins").to_csv(csv, index=False)
    rid = _train(proj, "--data", str(csv), "--target", "species", "--model", "linear", "--no-register")
    pd.read_csv(csv).iloc[:-1].to_csv(csv, index=False)
    proc = run_cli("reproduce", rid["tracking"]["run_id"], cwd=proj, env=ON)
    assert proc.returncode == 2 and "SHA-256" in proc.stderr and "restore the original data" in proc.stderr
    proc = run_cli("reproduce", "0" * 32, cwd=proj, env=ON)
    assert proc.returncode == 2 and "no MLflow run" in proc.stderr


def test_a_failed_run_is_marked_failed(proj: Path, versions: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    import mlproj.workflows.train as pipeline  # where train calls fit_and_evaluate

    def boom(*args, **kwargs):
        raise RuntimeError("boom in the fit")

    monkeypatch.setattr(pipeline, "fit_and_evaluate", boom)
    s = load_settings(project_dir=proj, env={})
    with pytest.raises(RuntimeError, match="boom"):
        pipeline.train(settings=s, cache=False, check=False, track=True)
    c = _client(proj)
    exp = c.get_experiment_by_name("mlproj").experiment_id
    failed = c.search_runs([exp], "attributes.status = 'FAILED'")
    assert failed and "boom in the fit" in failed[0].data.tags["mlproj.error"]
    assert not c.search_runs([exp], "attributes.status = 'RUNNING'")


def _versions(project: Path, name: str = NAME) -> int:
    return len(_client(project).search_model_versions(f"name='{name}'"))


def test_sigkill_mid_run_leaves_nothing_half_written(proj: Path, tmp_path: Path, versions: dict) -> None:
    from mlproj.data.sources import make_demo_data

    big = tmp_path / "big.csv"
    make_demo_data(n_rows=30_000, random_state=1).to_csv(big, index=False)
    before_versions = _versions(proj)
    models = proj / "models"
    before = {p.name for p in models.iterdir()}
    latest = os.readlink(models / "latest")
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlproj", "train", "--data", str(big), "--target", "churned", "--model",
         "random_forest", "--no-cache", "--quiet"],
        cwd=proj, env={**os.environ, **ON}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    time.sleep(6)
    assert proc.poll() is None, "the run ended before it could be killed; use more data"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    time.sleep(1)
    new = {p.name for p in models.iterdir()} - before
    assert all(n.startswith(".") and n.endswith(".tmp") for n in new), new  # only hidden temporary folders
    assert os.readlink(models / "latest") == latest
    assert _versions(proj) == before_versions
    c = _client(proj)
    assert not c.search_runs([c.get_experiment_by_name("mlproj").experiment_id], "attributes.status = 'RUNNING'")
    after = _train(proj, "--model", "dummy")  # the next run works
    assert _versions(proj) == before_versions + 1 and after["tracking"]["version"]


def test_two_trains_at_once_on_a_fresh_store(tmp_path: Path) -> None:
    project = _project(tmp_path)
    try:
        procs = [
            subprocess.Popen(
                [sys.executable, "-m", "mlproj", "train", "--json", *FAST, "--model", "linear", "--seed", str(seed)],
                cwd=project, env={**os.environ, **ON}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            )
            for seed in (1, 2)
        ]
        outs = [p.communicate(timeout=300) for p in procs]
        for p, (out, err) in zip(procs, outs):
            assert p.returncode == 0, err
        runs = {json.loads(out)["tracking"]["run_id"] for out, _ in outs}
        assert len(runs) == 2
        assert sorted(json.loads(out)["tracking"]["version"] for out, _ in outs) == ["1", "2"]
        c = _client(project)
        assert {c.get_run(r).info.status for r in runs} == {"FINISHED"}
    finally:
        _stop_agent(project)


def _agents(folder: Path) -> list[int]:
    "Pids of the tracking agents whose socket lies under `folder` (`python -m mlproj.lifecycle.agent serve SOCKET`)."
    pids = []
    for p in Path("/proc").iterdir():
        try:
            cmd = (p / "cmdline").read_bytes() if p.name.isdigit() else b""
        except OSError:  # ended meanwhile
            continue
        if b"mlproj.lifecycle.agent\0serve\0" in cmd and str(folder).encode() in cmd:
            pids.append(int(p.name))
    return pids


def test_one_agent_serves_every_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    "Tracked commands in three project folders, two at once: one agent, and each run in its own project's store."
    import shutil
    import tempfile

    from mlproj.lifecycle.tracking import stop_agent

    run_dir = Path(tempfile.mkdtemp(prefix="mlp-"))  # short: a Unix socket's path has at most about 104 bytes
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(run_dir))  # this test's agent only, away from other sessions'
    projects = [_project(tmp_path / name) for name in ("a", "b", "c")]
    try:
        procs = [
            subprocess.Popen(
                [sys.executable, "-m", "mlproj", "train", "--json", *FAST, "--model", "dummy"],
                cwd=project, env={**os.environ, **ON}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            )
            for project in projects[:2]
        ]
        outs = [p.communicate(timeout=300) for p in procs]
        for p, (_, err) in zip(procs, outs):
            assert p.returncode == 0, err
        agents = _agents(run_dir)
        assert len(agents) == 1, sorted(p.name for p in (run_dir / "mlproj").glob("*.sock"))
        results = [json.loads(out) for out, _ in outs] + [_train(projects[2], "--model", "dummy")]
        sockets = sorted(p.name for p in (run_dir / "mlproj").glob("*.sock"))
        assert _agents(run_dir) == agents, sockets  # the third project's run went to the same agent
        for project, out in zip(projects, results):
            c = _client(project)
            runs = c.search_runs([c.get_experiment_by_name("mlproj").experiment_id])
            assert [r.info.run_id for r in runs] == [out["tracking"]["run_id"]]  # its own run, and only it
            assert runs[0].info.status == "FINISHED"
            assert runs[0].info.artifact_uri.startswith((project / "mlartifacts").resolve().as_uri())
            # each store has its own registry (version 1, champion) and its model files in its own folder
            assert (out["tracking"]["version"], out["tracking"]["aliases"]) == ("1", ["champion"])
            assert len(list((project / "mlartifacts").rglob("MLmodel"))) == 1
    finally:
        stop_agent(load_settings(project_dir=projects[0], env={}))
        deadline = time.monotonic() + 30
        while _agents(run_dir) and time.monotonic() < deadline:
            time.sleep(0.2)
        for pid in _agents(run_dir):  # started by this test
            os.kill(pid, signal.SIGKILL)
        shutil.rmtree(run_dir, ignore_errors=True)


def test_an_unreachable_store_fails_loudly_and_no_track_runs_without_it(tmp_path: Path) -> None:
    env = {**ON, "MLFLOW_TRACKING_URI": f"http://127.0.0.1:{_free_port()}"}
    t0 = time.monotonic()
    proc = run_cli("train", *FAST, "--model", "dummy", cwd=tmp_path, env=env)
    assert proc.returncode == 2 and time.monotonic() - t0 < 30
    assert "unreachable" in proc.stderr and "--no-track" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "models").exists()
    proc = run_cli("train", *FAST, "--model", "dummy", "--no-track", cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr


def test_against_a_real_mlflow_server(tmp_path: Path) -> None:
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", f"sqlite:///{tmp_path}/server.db",
         "--artifacts-destination", str(tmp_path / "server-artifacts"), "--host", "127.0.0.1", "--port",
         str(port), "--workers", "1"],
        cwd=tmp_path, env={**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"},
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    try:
        _wait_http(f"http://127.0.0.1:{port}/health", server)
        project = _project(tmp_path / "client", agent_idle="0")  # the one-helper-per-command path
        env = {**ON, "MLFLOW_TRACKING_URI": f"http://127.0.0.1:{port}"}
        out = _train(project, "--model", "linear", env=env)
        assert out["tracking"]["version"] == "1" and out["tracking"]["aliases"] == ["champion"]
        assert not (project / "mlruns.db").exists()  # everything went to the server
        assert list((tmp_path / "server-artifacts").rglob("model.joblib"))
        ev = run_cli("evaluate", "--model", f"{NAME}@champion", "--json", cwd=project, env=env)
        assert ev.returncode == 0, ev.stderr
        assert json.loads(ev.stdout)["metrics"]["roc_auc"] == pytest.approx(out["metrics"]["roc_auc"])
    finally:
        _stop(server)


def test_mlflow_models_serve_serves_the_champion(proj: Path, versions: dict) -> None:
    from mlproj.data.sources import load_data, split_data
    from mlproj.lifecycle.registry import load_model

    port = _free_port()
    uri = f"sqlite:///{proj}/mlruns.db"
    server = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "models", "serve", "-m", f"models:/{NAME}@champion", "--env-manager",
         "local", "-h", "127.0.0.1", "-p", str(port), "--workers", "1"],
        cwd=proj,
        env={
            **os.environ,
            "MLFLOW_TRACKING_URI": uri,
            "MLFLOW_DISABLE_TELEMETRY": "true",
            # mlflow runs `uvicorn` from PATH, as in an activated virtual environment
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        },
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    try:
        _wait_http(f"http://127.0.0.1:{port}/ping", server)
        df = load_data("penguins")
        X = split_data(df, "species", "classification", test_size=0.2, random_state=0).X_test
        body = json.dumps({"dataframe_split": json.loads(X.to_json(orient="split", index=False))}).encode()
        req = urllib.request.Request(f"http://127.0.0.1:{port}/invocations", body, {"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=60) as r:
            served = json.loads(r.read())["predictions"]
        model, _, _ = load_model(f"{NAME}@champion", load_settings(project_dir=proj, env={}))
        assert served == model.predict(X).tolist()
    finally:
        _stop(server)


def test_report_runs_are_tracked(proj: Path, versions: dict) -> None:
    proc = run_cli("report", *FAST, "--no-cache", cwd=proj, env=ON)
    assert proc.returncode == 0, proc.stderr
    c = _client(proj)
    exp = c.get_experiment_by_name("mlproj").experiment_id
    run = c.search_runs([exp], "tags.`mlproj.command` = 'report'")[0]
    assert run.info.status == "FINISHED" and "holdout_roc_auc" in run.data.metrics
    assert run.data.params["report_name"] == "model" and run.data.params["parameters.cv_folds"] == "3"
    assert "train.seed" in run.data.params and run.data.tags["mlproj.version.scikit-learn"]
    names = {Path(f.path).name for f in c.list_artifacts(run.info.run_id, "report")}
    assert {"report.html", "report.ipynb", "metrics.json"} <= names

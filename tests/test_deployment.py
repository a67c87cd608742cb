"""The deployment works against a real Prefect server: prefect.yaml deployed, a worker started,
the deployment triggered for a date, the day published and the flow run Completed."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import yaml

from flows.nightly import DEFAULT_DATA_DIR, nightly

PROJECT = Path(__file__).resolve().parents[1]
PREFECT = str(Path(sys.executable).with_name("prefect"))
DAY = "2026-03-31"


def test_prefect_yaml_schedules_the_nightly_flow_at_3_moscow_with_paths_from_settings():
    spec = yaml.safe_load((PROJECT / "prefect.yaml").read_text())
    [deployment] = spec["deployments"]
    assert deployment["entrypoint"] == "flows/nightly.py:nightly"
    assert deployment["schedules"] == [{"cron": "0 3 * * *", "timezone": "Europe/Moscow"}]
    assert set(deployment["parameters"]) <= set(nightly.parameters.properties)
    assert deployment["parameters"]["data_dir"] == "{{ $PERFONE_DATA_DIR }}"
    assert spec["pull"][0]["prefect.deployments.steps.set_working_directory"]["directory"] == "{{ $PERFONE_PROJECT_DIR }}"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _get(url: str, body: dict | None = None):
    request = urllib.request.Request(url, data=json.dumps(body).encode() if body is not None else None,
                                     headers={"Content-Type": "application/json"}, method="POST" if body else "GET")
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.loads(answer.read())


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def test_a_worker_runs_the_deployment_for_a_date_on_a_local_prefect_server(tmp_path):
    data_dir = tmp_path / "data"
    shutil.copytree(DEFAULT_DATA_DIR / "inbox", data_dir / "inbox")
    shutil.copy(DEFAULT_DATA_DIR / "sources.toml", data_dir / "sources.toml")
    api = f"http://127.0.0.1:{_free_port()}/api"
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")},
           "PREFECT_HOME": str(tmp_path / "prefect"), "PREFECT_API_URL": api,
           "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "PREFECT_UI_ENABLED": "false",
           "PERFONE_PROJECT_DIR": str(PROJECT), "PERFONE_DATA_DIR": str(data_dir)}
    logs = open(tmp_path / "prefect.log", "w")
    port = api.split(":")[2].split("/")[0]
    server = subprocess.Popen([PREFECT, "server", "start", "--host", "127.0.0.1", "--port", port], env=env,
                              stdout=logs, stderr=logs, start_new_session=True)
    worker = None
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                _get(f"{api}/health")
                break
            except OSError:
                assert time.monotonic() < deadline, (tmp_path / "prefect.log").read_text()[-2000:]
                time.sleep(0.5)

        def prefect(*args: str) -> str:
            done = subprocess.run([PREFECT, "--no-prompt", *args], env=env, cwd=PROJECT, capture_output=True,
                                  text=True, timeout=180)
            assert done.returncode == 0, done.stdout + done.stderr
            return done.stdout

        prefect("work-pool", "create", "perfone-local", "--type", "process")
        prefect("deploy", "--all")
        worker = subprocess.Popen([PREFECT, "worker", "start", "--pool", "perfone-local"], env=env, cwd=tmp_path,
                                  stdout=logs, stderr=logs, start_new_session=True)
        triggered = prefect("deployment", "run", "perfone-loyalty-nightly/nightly", "--param", f"as_of={DAY}")
        run_id = next(line.split()[-1] for line in triggered.splitlines() if "UUID" in line)
        deadline = time.monotonic() + 300
        while (state := _get(f"{api}/flow_runs/{run_id}")["state"]["type"]) not in ("COMPLETED", "FAILED", "CRASHED"):
            assert time.monotonic() < deadline, f"flow run still {state}"
            time.sleep(1)
        assert state == "COMPLETED", (tmp_path / "prefect.log").read_text()[-3000:]
        assert (data_dir / "out" / DAY / "rollforward.csv").exists()
        tasks = _get(f"{api}/task_runs/filter", {"flow_runs": {"id": {"any_": [run_id]}}})
        names = {task["name"] for task in tasks}
        assert {f"stage inbox up to {DAY}", "recompute part 0 of 1", f"write balances of {DAY}", "audit EXCEPTIONS",
                f"publish {DAY}"} <= names
        published = f"published {data_dir / 'out' / DAY}"
        deadline = time.monotonic() + 60  # the worker's run sends its logs after its state
        while not any(published in log["message"] for log in _get(f"{api}/logs/filter", {
                "logs": {"flow_run_id": {"any_": [run_id]}}, "sort": "TIMESTAMP_DESC", "limit": 50})):
            assert time.monotonic() < deadline, "the flow run's log never said it published"
            time.sleep(1)
    finally:
        for process in (worker, server):
            if process is not None:
                _stop(process)
        logs.close()

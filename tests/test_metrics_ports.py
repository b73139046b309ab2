"""Ports of /metrics and /healthz on one host (oddping/metrics_port.py): a producer and two stream
workers started with the defaults all run and serve /metrics on the real broker; a port held by
another socket is a one-line error that names the setting."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import orjson
import pytest
from kafkakit import BOOTSTRAP, new_topic, require_broker
from prometheus_client import CollectorRegistry

from oddping.config import MetricsSettings
from oddping.metrics_port import DEFAULT_PORTS, MetricsPortError, serve_health

ROOT = Path(__file__).resolve().parent.parent
ODDPING = str(Path(sys.executable).with_name("oddping"))


def _held_port() -> socket.socket:
    """A socket listening on a free loopback port (the 'something else' that holds it)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    return sock


def _ok() -> tuple[bool, str]:
    return True, "ok"


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ODDPING_")}
    return env | {"ODDPING_KAFKA__BOOTSTRAP_SERVERS": BOOTSTRAP, **extra}


# -- the setting, in process --------------------------------------------------------------------

def test_auto_takes_a_free_port_and_zero_is_off() -> None:
    server = serve_health(MetricsSettings(port="auto"), "process", CollectorRegistry(), _ok)
    assert server is not None and server.port > 0
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/healthz", timeout=5) as r:
            assert r.status == 200
    finally:
        server.stop()
    assert serve_health(MetricsSettings(port=0), "process", CollectorRegistry(), _ok) is None


def test_a_port_held_by_another_socket_names_the_setting() -> None:
    held = _held_port()
    port = held.getsockname()[1]
    try:
        with pytest.raises(MetricsPortError) as caught:
            serve_health(MetricsSettings(port=port), "produce", CollectorRegistry(), _ok)
    finally:
        held.close()
    message = str(caught.value)
    assert "\n" not in message and f"port {port} in use" in message
    assert "metrics.port" in message and "ODDPING_METRICS__PORT" in message


def test_the_commands_have_distinct_default_ports() -> None:
    produce, process = DEFAULT_PORTS["produce"], DEFAULT_PORTS["process"]
    produce_ports = set(range(produce.first, produce.first + produce.count))
    process_ports = set(range(process.first, process.first + process.count))
    assert not produce_ports & process_ports and len(process_ports) > 1


# -- the commands, on the real broker -----------------------------------------------------------

def _serving_port(log: Path, timeout_s: float = 90) -> int:
    """The port a command logged for /metrics (JSON logs), once it has started serving."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for line in log.read_text(errors="replace").splitlines():
            if line.startswith("{"):
                event = orjson.loads(line)
                if event.get("event") == "serving /metrics and /healthz":
                    return int(event["port"])
        time.sleep(0.5)
    raise AssertionError(f"{log.name} never served /metrics:\n{log.read_text()[-2000:]}")


@pytest.mark.kafka
def test_two_workers_and_a_producer_share_one_host_with_the_defaults(tmp_path: Path) -> None:
    require_broker()
    run = uuid.uuid4().hex[:8]
    records = new_topic(2, prefix=f"ports-{run}.records")
    env = _env(ODDPING_KAFKA__RECORDS_TOPIC=records,
               ODDPING_KAFKA__ALERTS_TOPIC=f"ports-{run}.alerts",
               ODDPING_KAFKA__DEAD_LETTER_TOPIC=f"ports-{run}.dlq",
               ODDPING_PROCESSOR__APP_ID=f"ports-{run}", ODDPING_LOG_FORMAT="json",
               ODDPING_PROCESSOR__DATA_DIR=str(tmp_path / "state"))
    watched = tmp_path / "captures"
    watched.mkdir()
    commands = {"worker-1": [ODDPING, "process"], "worker-2": [ODDPING, "process"],
                "producer": [ODDPING, "produce", "--watch", str(watched)]}
    procs: dict[str, subprocess.Popen] = {}
    logs = {name: tmp_path / f"{name}.log" for name in commands}
    try:
        for name, command in commands.items():
            with logs[name].open("wb") as log:
                procs[name] = subprocess.Popen(command, env=env, cwd=ROOT,
                                               stdout=subprocess.DEVNULL, stderr=log)
            if name == "worker-1":  # the second worker starts once the first holds its port
                _serving_port(logs[name])
        ports = {name: _serving_port(logs[name]) for name in commands}
        for name, port in ports.items():
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
                body = r.read().decode()
            assert r.status == 200 and "oddping_" in body, name
        time.sleep(2)
        assert all(p.poll() is None for p in procs.values()), {
            n: logs[n].read_text()[-2000:] for n, p in procs.items() if p.poll() is not None}
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs.values():
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
    process = DEFAULT_PORTS["process"]
    assert ports["producer"] == DEFAULT_PORTS["produce"].first
    assert ports["worker-1"] != ports["worker-2"]
    assert {ports["worker-1"], ports["worker-2"]} <= set(range(process.first,
                                                               process.first + process.count))
    assert not any("Traceback" in log.read_text() for log in logs.values())


@pytest.mark.kafka
@pytest.mark.parametrize("command", [["process"], ["produce", "--watch", "."]])
def test_a_taken_port_stops_the_command_with_one_line(command: list[str],
                                                      tmp_path: Path) -> None:
    require_broker()
    run = uuid.uuid4().hex[:8]
    env = _env(ODDPING_KAFKA__RECORDS_TOPIC=f"ports-{run}.records",
               ODDPING_KAFKA__ALERTS_TOPIC=f"ports-{run}.alerts",
               ODDPING_KAFKA__DEAD_LETTER_TOPIC=f"ports-{run}.dlq",
               ODDPING_PROCESSOR__APP_ID=f"ports-{run}", ODDPING_LOG_LEVEL="WARNING")
    held = _held_port()
    port = held.getsockname()[1]
    try:
        proc = subprocess.run([ODDPING, *command, "--metrics-port", str(port)], env=env,
                              cwd=tmp_path, capture_output=True, text=True, timeout=120)
    finally:
        held.close()
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode != 0
    assert lines == [f"oddping: metrics port {port} in use on 127.0.0.1: set metrics.port "
                     "(--metrics-port, ODDPING_METRICS__PORT) to a free port, 'auto' for any "
                     "free port, or 0 to turn it off"], proc.stderr

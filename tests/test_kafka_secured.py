"""Every client over the test broker's secured listeners (issue 17): TLS with client
certificates, SASL_SSL with SCRAM-SHA-256 and -512, each principal with only the ACLs of
oddping/kafka_acls.py, which these tests apply for their own topic names and app ids.

Positive: the producer (--pcap, --watch), the worker (consume, changelog and recovery, alerts,
dead letters), `oddping alerts`, `oddping topics create`.  Negative: each refusal is one line
that names its cause, a non-zero exit within a bounded time, no traceback.  And no output of
any of them holds a password.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import orjson
import pytest
from confluent_kafka import Producer
from kafkakit import BOOTSTRAP, consume_all, end_offsets_total, require_broker
from securekit import (SASL_SSL_PORT, TLS, TRANSPORTS, all_passwords, create_topics,
                       expired_client_cert, foreign_ca, kafka_env, super_admin, unique)

from oddping import kafka_acls
from oddping.kafka_acls import Names

pytestmark = pytest.mark.kafka

ROOT = Path(__file__).resolve().parent.parent
ODDPING = str(Path(sys.executable).with_name("oddping"))
FOOTPRINTS = ROOT / "samples" / "footprints.pcap"
FOOTPRINT_RECORDS = 151  # `oddping decode samples/footprints.pcap | wc -l`
OUTPUTS: list[str] = []  # every output of every command here: searched for passwords at the end


@pytest.fixture(scope="module", autouse=True)
def broker() -> str:
    require_broker()
    assert (TLS / "ca.pem").is_file(), f"no {TLS}: the broker was not started by kafka.sh"
    return BOOTSTRAP


def granted(prefix: str, create: bool = True, without: tuple = ()) -> Names:
    """Fresh topic names and app id, their topics created and the least-privilege ACLs applied
    (less the grants in `without`, as (principal, resource type) pairs)."""
    run = unique(prefix)
    names = Names(records=f"{run}.records", alerts=f"{run}.alerts",
                  dead_letters=f"{run}.records.dlq", app_id=f"{run}-app")
    if create:
        create_topics(names.records, names.alerts, names.dead_letters)
    grants = tuple(g for g in kafka_acls.GRANTS
                   if not any((g.principal, g.resource, g.pattern)[:len(w)] == w for w in without))
    admin = super_admin()
    kafka_acls.apply(admin, kafka_acls.bindings(names, grants=grants))
    return names


def topics_env(names: Names) -> dict[str, str]:
    return {"ODDPING_KAFKA__RECORDS_TOPIC": names.records,
            "ODDPING_KAFKA__ALERTS_TOPIC": names.alerts,
            "ODDPING_KAFKA__DEAD_LETTER_TOPIC": names.dead_letters,
            "ODDPING_KAFKA__PARTITIONS": "2",
            "ODDPING_PROCESSOR__APP_ID": names.app_id,
            "ODDPING_PROCESSOR__CHECKPOINT_INTERVAL_S": "1",
            "ODDPING_METRICS__PORT": "0"}


def run(env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    result = subprocess.run([ODDPING, *args], env=os.environ | env, cwd=ROOT, timeout=timeout,
                            capture_output=True, text=True)
    OUTPUTS.extend([result.stdout, result.stderr])
    return result


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def healthz(port: int) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as reply:
            return reply.status, reply.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except OSError as exc:
        return 0, str(exc)


class Worker:
    """`oddping process` in the background, its output kept for the password search."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.port = free_port()
        self.log = log
        self.proc = subprocess.Popen([ODDPING, "process"], cwd=ROOT, stdout=subprocess.DEVNULL,
                                     stderr=log.open("w"),
                                     env=os.environ | env | {
                                         "ODDPING_METRICS__PORT": str(self.port)})

    def wait_health(self, status: int, contains: str = "", timeout_s: float = 120) -> str:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            code, text = healthz(self.port)
            if code == status and contains in text:
                return text
            assert self.proc.poll() is None, self.output()[-3000:]
            time.sleep(0.5)
        raise AssertionError(f"/healthz never answered {status} {contains!r}: {code} {text}")

    def metrics(self) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=5) as r:
            text = r.read().decode()
        OUTPUTS.append(text)
        return text

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        OUTPUTS.append(self.output())
        return self.proc.returncode

    def output(self) -> str:
        return self.log.read_text(errors="replace")


# -- positive: every client, over every secured transport -----------------------------------------

@pytest.mark.parametrize("transport", TRANSPORTS)
def test_every_client_works_with_its_own_principal(transport: str, tmp_path: Path) -> None:
    names = granted(f"sec-{transport}")
    env = topics_env(names) | {"ODDPING_CAPTURE__WATCH_SETTLE_SECONDS": "1"}
    sensor, processor = kafka_env("sensor", transport), kafka_env("processor", transport)

    # the sensor: a capture, then a watched directory (transactions + its progress topic)
    result = run(env | sensor, "produce", "--pcap", str(FOOTPRINTS), "--sensor-id", "s1")
    assert result.returncode == 0, result.stderr
    watched = tmp_path / "watched"
    watched.mkdir()
    shutil.copy(FOOTPRINTS, watched / "cap-0001.pcap")
    watcher = subprocess.Popen([ODDPING, "produce", "--watch", str(watched), "--sensor-id", "s1"],
                               env=os.environ | env | sensor, cwd=ROOT, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        records = consume_all(names.records, expected=2 * FOOTPRINT_RECORDS, timeout_s=90,
                              read_committed=True, idle_s=1)
    finally:
        watcher.send_signal(signal.SIGTERM)
        out, err = watcher.communicate(timeout=60)
        OUTPUTS.extend([out, err])
    assert watcher.returncode == 0, err
    assert len(records) == 2 * FOOTPRINT_RECORDS
    # a message no decoder made, for the dead-letter topic
    garbage = Producer({"bootstrap.servers": BOOTSTRAP})
    garbage.produce(names.records, key=b"10.0.0.1", value=b"not a record", partition=0)
    garbage.flush(15)

    # the processor: consumes, writes alerts, dead letters and its changelog
    worker = Worker(env | processor, tmp_path / "worker-1.log")
    try:
        worker.wait_health(200, "ok")
        alerts = consume_all(names.alerts, expected=1, timeout_s=120, idle_s=1)
        dead = consume_all(names.dead_letters, expected=1, timeout_s=30, idle_s=1)
        changelog = f"{names.app_id}-host-state-changelog"
        deadline = time.monotonic() + 30
        while end_offsets_total(changelog, 2) == 0 and time.monotonic() < deadline:
            time.sleep(0.5)
        assert end_offsets_total(changelog, 2) > 0
        assert "oddping_records_consumed_total" in worker.metrics()
    finally:
        assert worker.stop() == 0, worker.output()[-3000:]
    assert alerts and dead and dead[0].value() == b"not a record"
    # ... and a restarted worker recovers the hosts' state from that changelog
    again = Worker(env | processor, tmp_path / "worker-2.log")
    try:
        again.wait_health(200, "ok")
    finally:
        assert again.stop() == 0, again.output()[-3000:]
    tracked = re.search(r"'hosts_tracked': (\d+)", again.output())
    assert tracked and int(tracked.group(1)) > 0, again.output()[-3000:]

    # the alert reader
    result = run(env | kafka_env("alerts", transport), "alerts", "--format", "jsonl", "--wait",
                 "30", "--idle", "2")
    assert result.returncode == 0, result.stderr
    assert {orjson.loads(line)["alert_id"] for line in result.stdout.splitlines()} >= {
        orjson.loads(m.value())["alert_id"] for m in alerts}


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_admin_creates_the_topics(transport: str) -> None:
    names = granted(f"adm-{transport}", create=False)
    result = run(topics_env(names) | kafka_env("admin", transport), "topics", "create")
    assert result.returncode == 0, result.stderr
    # and the campaign stage's repartition topic (campaigns.stream, on by default)
    assert set(result.stdout.split("created: ")[1].strip().split(", ")) == {
        names.records, names.alerts, names.dead_letters,
        f"{names.app_id}-campaign-behaviours"}


# -- negative: one line naming the cause, non-zero, bounded, no traceback -------------------------

def _refusal(result: subprocess.CompletedProcess, elapsed: float, *expected: str) -> None:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode != 0
    assert "Traceback" not in result.stderr + result.stdout
    assert len(lines) == 1, result.stderr[-3000:]
    for part in expected:
        assert part in lines[0], lines[0]
    assert elapsed < 20  # refusals come at the first answer (about 1-3 s here), not a timeout


@pytest.fixture(scope="module")
def names() -> Names:
    return granted("neg")


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    directory = tmp_path_factory.mktemp("certs")
    crt, key = expired_client_cert(directory, "sensor")
    return {"other_ca": foreign_ca(directory), "expired_crt": crt, "expired_key": key}


NEGATIVE = {
    # name: (user, transport, kafka settings, command, what the line must say)
    "wrong password": ("sensor", "scram-sha-512", {"sasl_password": "not-the-password"},
                       "produce", ("SASL authentication", "invalid credentials")),
    "foreign CA": ("sensor", "scram-sha-256", {"ssl_ca_location": "{other_ca}"}, "produce",
                   ("certificate verify failed",)),
    "expired certificate": ("sensor", "ssl", {"ssl_certificate_location": "{expired_crt}",
                                              "ssl_key_location": "{expired_key}"},
                            "produce", ("expired",)),
    "host name mismatch": ("sensor", "scram-sha-512",
                           {"bootstrap_servers": f"localhost:{SASL_SSL_PORT}"}, "produce",
                           ("certificate verify failed",)),
    "sensor reads alerts": ("sensor", "scram-sha-512", {}, "alerts",
                            ("User:sensor may not READ topic", ".alerts'")),
    "sensor writes alerts": ("sensor", "ssl", {"records_topic": "{alerts}"}, "produce",
                             ("may not WRITE topic", ".alerts'")),
    "processor writes records": ("processor", "scram-sha-256", {}, "produce",
                                 ("User:processor may not WRITE topic", ".records'")),
    "sensor runs the worker": ("sensor", "scram-sha-512", {}, "process",
                               ("User:sensor may not READ topic", ".records'")),
}
COMMANDS = {"produce": ["produce", "--pcap", str(FOOTPRINTS)], "alerts": ["alerts", "--wait", "5"],
            "process": ["process"]}


@pytest.mark.parametrize("case", list(NEGATIVE))
def test_refusal_is_one_line_naming_its_cause(case: str, names: Names,
                                              certs: dict[str, Path]) -> None:
    user, transport, settings, command, expected = NEGATIVE[case]
    fill = {k: str(v) for k, v in certs.items()} | {"alerts": names.alerts}
    settings = {k: v.format(**fill) for k, v in settings.items()}
    started = time.monotonic()
    result = run(topics_env(names) | kafka_env(user, transport, **settings), *COMMANDS[command],
                 timeout=90)
    _refusal(result, time.monotonic() - started, *expected)


@pytest.mark.parametrize("transport", ["scram-sha-512", "ssl"])
def test_worker_without_its_group_says_so(transport: str) -> None:
    from confluent_kafka.admin import ResourceType

    names = granted("nogroup", without=(("processor", ResourceType.GROUP),))
    started = time.monotonic()
    result = run(topics_env(names) | kafka_env("processor", transport), "process", timeout=90)
    _refusal(result, time.monotonic() - started, "may not READ group", repr(names.app_id))


def test_worker_without_faust_topics_says_so() -> None:
    """Its group granted, but not the `<app_id>-` prefix of faust's own topics."""
    from confluent_kafka.admin import ResourcePatternType, ResourceType

    names = granted("nofaust", without=(("processor", ResourceType.TOPIC,
                                         ResourcePatternType.PREFIXED),))
    started = time.monotonic()
    result = run(topics_env(names) | kafka_env("processor", "scram-sha-512"), "process",
                 timeout=90)
    _refusal(result, time.monotonic() - started, "User:processor may not",
             f"{names.app_id}-", "faust's own topic")


def test_worker_outside_its_app_id_prefix_says_so() -> None:
    names = granted("prefix")
    env = topics_env(names) | {"ODDPING_PROCESSOR__APP_ID": "not-granted-app"}
    started = time.monotonic()
    result = run(env | kafka_env("processor", "scram-sha-256"), "process", timeout=90)
    _refusal(result, time.monotonic() - started, "User:processor may not", "'not-granted-app")


def test_sensor_may_not_create_topics() -> None:
    names = granted("nocreate", create=False)
    started = time.monotonic()
    result = run(topics_env(names) | kafka_env("sensor", "ssl"), "topics", "create")
    _refusal(result, time.monotonic() - started, "may not CREATE topic")


def test_worker_stops_and_says_so_when_its_group_is_taken_away(tmp_path: Path) -> None:
    """aiokafka keeps GroupAuthorizationFailedError to itself: the worker must not look alive."""
    from confluent_kafka.admin import ResourceType

    names = granted("revoke")
    env = topics_env(names) | kafka_env("processor", "scram-sha-256")
    worker = Worker(env, tmp_path / "worker.log")
    try:
        worker.wait_health(200, "ok")
        group_grants = tuple(g for g in kafka_acls.GRANTS
                             if (g.principal, g.resource) == ("processor", ResourceType.GROUP))
        kafka_acls.revoke(super_admin(), kafka_acls.bindings(names, grants=group_grants))
        started = time.monotonic()
        reason = worker.wait_health(503, "group", timeout_s=90)
        assert f"User:processor may no longer READ group {names.app_id!r}" in reason
        assert time.monotonic() - started < 60
        # ... and it takes nothing more
        consumed = _consumed(worker.metrics())
        more = Producer({"bootstrap.servers": BOOTSTRAP})
        for i in range(20):
            more.produce(names.records, key=b"10.0.0.1", value=b"not a record", partition=i % 2)
        more.flush(15)
        time.sleep(4)
        assert _consumed(worker.metrics()) == consumed
        assert healthz(worker.port)[0] == 503
    finally:
        worker.stop()
    assert "Traceback" not in worker.output()


def _consumed(metrics: str) -> float:
    return sum(float(line.split()[-1]) for line in metrics.splitlines()
               if line.startswith("oddping_records_consumed_total"))


# -- the sensor drops root -----------------------------------------------------------------------

def _uids(pid: int) -> set[int]:
    """The real, effective, saved and filesystem uids of every thread of `pid`."""
    uids = set()
    for status in Path(f"/proc/{pid}/task").glob("*/status"):
        line = next(x for x in status.read_text().splitlines() if x.startswith("Uid:"))
        uids.update(int(u) for u in line.split()[1:])
    return uids


@pytest.mark.live
def test_live_sensor_drops_root_once_capturing_and_goes_on() -> None:
    import pwd

    if os.geteuid() != 0:
        pytest.fail("live capture needs root; run the tests as CI does (root)")
    user = "nobody"
    try:
        pwd.getpwnam(user)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", user], check=True)
    uid = pwd.getpwnam(user).pw_uid
    names = granted("live")
    env = topics_env(names) | kafka_env("sensor", "scram-sha-512") | {
        "ODDPING_CAPTURE__USER": user}
    sensor = subprocess.Popen([ODDPING, "produce", "--interface", "lo", "--sensor-id", "lo-1"],
                              env=os.environ | env, cwd=ROOT, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while _uids(sensor.pid) != {uid} and time.monotonic() < deadline:
            assert sensor.poll() is None, sensor.communicate()[1][-3000:]
            time.sleep(0.2)
        assert _uids(sensor.pid) == {uid}  # every thread, librdkafka's too
        # capture goes on as that user: pings sent after the switch arrive on the topic
        subprocess.run(["ping", "-c", "5", "-i", "0.2", "127.0.0.1"], check=True,
                       capture_output=True, timeout=30)
        records = [orjson.loads(m.value()) for m in consume_all(names.records, expected=10,
                                                                 timeout_s=60, idle_s=1)]
    finally:
        sensor.send_signal(signal.SIGTERM)
        out, err = sensor.communicate(timeout=60)
        OUTPUTS.extend([out, err])
    assert sensor.returncode == 0, err[-3000:]
    echoes = [r for r in records if r["kind"] == "icmp" and r["dst_ip"] == "127.0.0.1"]
    assert len([r for r in echoes if r["icmp_type"] == 8]) >= 5
    assert "dropped root" in err and "Traceback" not in err


# -- secrets --------------------------------------------------------------------------------------

def test_config_show_masks_the_password() -> None:
    result = run(kafka_env("processor", "scram-sha-512"), "config", "show")
    assert result.returncode == 0 and '"sasl_password": "********"' in result.stdout


def test_no_output_holds_a_password() -> None:
    """Last in this module: every output above (and of a refused and a debug-logged client
    here, so it never searches nothing), searched for every principal's password."""
    run(kafka_env("alerts", "scram-sha-512") | {"ODDPING_LOG_LEVEL": "DEBUG"}, "alerts",
        "--wait", "1")
    run(kafka_env("sensor", "scram-sha-256") | {"ODDPING_LOG_LEVEL": "DEBUG"}, "process",
        timeout=90)
    secrets = all_passwords()
    assert len(secrets) == 4
    leaks = [(secret[:3] + "...", text[max(0, text.find(secret) - 80):][:200])
             for secret in secrets for text in OUTPUTS if secret in text]
    assert not leaks

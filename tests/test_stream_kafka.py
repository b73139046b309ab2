"""`oddping process` (faust workers) on the real local broker gives what `oddping scan` gives
(issue 4's tests 3-5): same alerts with two workers, after a SIGKILL, and with garbage on the
records topic.

"The same alerts" is compared by content, not only by (rule, host, alert_id): for every alert_id,
the newest version on the alerts topic (the last message of that id: one id is one host, hence
one partition, in order) must say what scan's final version says (rule, host, key, counts,
ranges, evidence, summary), its version number, status and version time aside.  The replayed
capture ends and its last windows stay open in the stream (they close on event time, which
stops with the input): the worker emits their evidence as open versions once its input has been
quiet for processor.alert_idle_emit_s, and those must carry the closed version's content."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from pathlib import Path

import orjson
import pytest
from confluent_kafka import Producer
from kafkakit import (BOOTSTRAP, committed_total, consume_all, end_offsets_total, new_topic,
                      require_broker, wait_first_message)

import schemas
from processors.lifecycle import content

pytestmark = pytest.mark.kafka

ROOT = Path(__file__).resolve().parent.parent
ODDPING = str(Path(sys.executable).with_name("oddping"))
SENSOR = "stream-test"


@pytest.fixture(scope="module", autouse=True)
def broker() -> str:
    return require_broker()


@pytest.fixture(scope="module")
def busy_capture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from samples.busy import busy_frames
    from samples.craft import write_pcap

    path = tmp_path_factory.mktemp("busy") / "busy.pcap"
    write_pcap(path, busy_frames(hosts=160, minutes=10, seed=11))
    return path


@pytest.fixture(scope="module")
def scanned(busy_capture: Path) -> dict[str, dict]:
    return _scan(busy_capture)


@pytest.fixture(scope="module")
def long_capture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """About 120,000 records over 16 minutes of capture time; the first alerts (15-minute
    windows closing) come at about 90 % of them."""
    from samples.busy import busy_frames
    from samples.craft import write_pcap

    path = tmp_path_factory.mktemp("long") / "long.pcap"
    write_pcap(path, busy_frames(hosts=700, minutes=16, seed=5))
    return path


def _scan(capture: Path) -> dict[str, dict]:
    """alert_id -> the content of scan's final (closed) version."""
    out = subprocess.run([ODDPING, "scan", str(capture), "--format", "jsonl",
                          "--sensor-id", SENSOR], capture_output=True, check=True, timeout=600)
    # campaign alerts included: the worker makes them too (campaigns.stream, on by default)
    docs = [orjson.loads(line) for line in out.stdout.splitlines()]
    assert all(doc["status"] == "closed" for doc in docs)
    assert len({doc["rule_id"] for doc in docs}) >= 5, "the capture should exercise many rules"
    return {doc["alert_id"]: content(doc) for doc in docs}


def _identity(alert: dict) -> tuple[str, str, str]:
    # a campaign alert (kind "campaign", processors/campaign) is about many hosts
    return alert["rule_id"], alert.get("src_ip", "*"), alert["alert_id"]


def _identities(alerts: dict[str, dict]) -> set[tuple[str, str, str]]:
    return {_identity(doc) for doc in alerts.values()}


def _newest(documents: list[dict]) -> dict[str, dict]:
    """alert_id -> the content of its newest version on the topic (the last message of it),
    unless that says dismissed (scan prints no dismissed alert)."""
    newest = {doc["alert_id"]: doc for doc in documents}
    return {i: content(doc) for i, doc in newest.items() if doc["status"] != "dismissed"}


class Pipeline:
    def __init__(self, partitions: int = 4) -> None:
        run = uuid.uuid4().hex[:8]
        self.partitions = partitions
        self.app_id = f"stream-{run}"
        self.records = new_topic(partitions, prefix=f"stream-{run}.records")
        self.alerts = f"stream-{run}.alerts"
        self.dead_letters = f"stream-{run}.dlq"
        self.env = os.environ | {
            "ODDPING_KAFKA__BOOTSTRAP_SERVERS": BOOTSTRAP,
            "ODDPING_KAFKA__RECORDS_TOPIC": self.records,
            "ODDPING_KAFKA__ALERTS_TOPIC": self.alerts,
            "ODDPING_KAFKA__DEAD_LETTER_TOPIC": self.dead_letters,
            "ODDPING_KAFKA__PARTITIONS": str(partitions),
            "ODDPING_PROCESSOR__APP_ID": self.app_id,
            # checkpoints (state to the changelog, then offsets committed) every second, so a
            # worker killed mid-stream has saved state to resume from
            "ODDPING_PROCESSOR__CHECKPOINT_INTERVAL_S": "1",
            "ODDPING_METRICS__PORT": "0",
            "ODDPING_LOG_LEVEL": "WARNING",
        }
        self.workers: list[subprocess.Popen] = []

    def publish(self, capture: Path) -> None:
        subprocess.run([ODDPING, "produce", "--pcap", str(capture), "--sensor-id", SENSOR],
                       env=self.env, check=True, capture_output=True, timeout=300)

    def start_worker(self, metrics_port: int = 0) -> subprocess.Popen:
        env = self.env | {"ODDPING_METRICS__PORT": str(metrics_port)}
        worker = subprocess.Popen([ODDPING, "process"], env=env, cwd=ROOT,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.workers.append(worker)
        return worker

    def committed(self) -> int:
        return committed_total(self.app_id, self.records, self.partitions)

    def alert_documents(self) -> list[dict]:
        return [orjson.loads(m.value()) for m in consume_all(self.alerts, timeout_s=15,
                                                             idle_s=2)]

    def wait_for(self, expected: dict[str, dict], timeout_s: float = 240) -> dict[str, dict]:
        """alert_id -> the newest version's content, once it equals `expected` (then a little
        longer: anything extra would show up) or at the timeout."""
        deadline = time.monotonic() + timeout_s
        seen: dict[str, dict] = {}
        while time.monotonic() < deadline:
            seen = _newest(self.alert_documents())
            if seen == expected:
                time.sleep(3)
                return _newest(self.alert_documents())
            if any(w.poll() is not None for w in self.workers if w.returncode not in (None, -9)):
                break
            time.sleep(3)
        return seen

    def stop(self) -> None:
        for worker in self.workers:
            if worker.poll() is None:
                worker.send_signal(signal.SIGTERM)
        for worker in self.workers:
            try:
                worker.wait(60)
            except subprocess.TimeoutExpired:
                worker.kill()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _describe(got: dict[str, dict], expected: dict[str, dict]) -> str:
    missing = sorted(_identities(expected) - _identities(got))[:5]
    extra = sorted(_identities(got) - _identities(expected))[:5]
    differ = [(expected[i]["rule_id"], expected[i].get("src_ip"), i,
               {k: (got[i].get(k), v) for k, v in expected[i].items() if got[i].get(k) != v})
              for i in sorted(set(got) & set(expected)) if got[i] != expected[i]]
    return f"missing {missing} extra {extra} content differs ({len(differ)}) {differ[:2]}"


def test_two_workers_find_what_scan_finds(busy_capture: Path, scanned: dict) -> None:
    pipeline = Pipeline(partitions=4)
    try:
        pipeline.publish(busy_capture)
        port = _free_port()
        pipeline.start_worker(metrics_port=port)
        pipeline.start_worker()
        got = pipeline.wait_for(scanned)
        documents = pipeline.alert_documents()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as response:
            health = (response.status, response.read())
    finally:
        pipeline.stop()
    assert got == scanned, _describe(got, scanned)
    assert health == (200, b"ok\n")  # all taken, nothing waiting: not stuck
    for doc in documents[:50] + [d for d in documents if d.get("kind") == "campaign"][:5]:
        schema = schemas.CAMPAIGN_SCHEMA if doc.get("kind") == "campaign" else schemas.ALERT_SCHEMA
        assert schemas.first_error(schema, doc) is None


def _consumed(port: int) -> int:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        for line in response.read().decode().splitlines():
            if line.startswith("oddping_records_consumed_total "):
                return int(float(line.split()[1]))
    return 0


def test_partitions_handed_back_before_any_checkpoint_are_read_again(busy_capture: Path,
                                                                      scanned: dict) -> None:
    """A worker that has consumed everything but checkpointed nothing loses its partitions in a
    rebalance and gets some of them back: it dropped that work, so it must read them again."""
    pipeline = Pipeline(partitions=4)
    pipeline.env["ODDPING_PROCESSOR__CHECKPOINT_INTERVAL_S"] = "15"
    try:
        pipeline.publish(busy_capture)
        total = end_offsets_total(pipeline.records, pipeline.partitions)
        port = _free_port()
        pipeline.start_worker(metrics_port=port)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if _consumed(port) >= total:
                    break
            except OSError:
                pass  # not serving yet
            time.sleep(0.2)
        assert pipeline.committed() == 0, "the first worker checkpointed too soon for this test"
        pipeline.start_worker()  # a rebalance: the first keeps half of what it had
        deadline = time.monotonic() + 120
        while pipeline.committed() < total and time.monotonic() < deadline:
            time.sleep(1)
        committed = pipeline.committed()
        got = pipeline.wait_for(scanned)
    finally:
        pipeline.stop()
    assert committed == total, f"{committed:,} of {total:,} committed"
    assert got == scanned, _describe(got, scanned)


def _decoded(capture: Path) -> list[bytes]:
    """The capture's records, byte for byte what `oddping produce` publishes for it."""
    out = subprocess.run([ODDPING, "decode", str(capture), "--format", "jsonl",
                          "--sensor-id", SENSOR], capture_output=True, check=True, timeout=300)
    return out.stdout.splitlines()


class LiveStream(threading.Thread):
    """Publishes records the way a sensor does, a slice at a time, so a worker as fast as it
    may be is still mid-stream when the test kills it: the last slice waits for `release`."""

    def __init__(self, topic: str, values: list[bytes], slices: int = 20,
                 pause_s: float = 0.3) -> None:
        super().__init__(daemon=True)
        self.topic, self.values, self.pause_s = topic, values, pause_s
        size = -(-len(values) // slices)
        self.slices = [values[i:i + size] for i in range(0, len(values), size)]
        self.release = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            producer = Producer({"bootstrap.servers": BOOTSTRAP, "enable.idempotence": True,
                                 "partitioner": "murmur2_random", "linger.ms": 20})
            for n, values in enumerate(self.slices):
                if n == len(self.slices) - 1:
                    self.release.wait(600)
                for value in values:
                    record = orjson.loads(value)
                    producer.produce(self.topic, value, record["initiator_ip"].encode(),
                                     timestamp=record["ts_ns"] // 1_000_000)
                    producer.poll(0)
                assert producer.flush(60) == 0
                time.sleep(self.pause_s)
        except BaseException as exc:  # noqa: BLE001 (reported by the test)
            self.error = exc
            self.release.set()


def test_worker_killed_midstream_loses_no_alert(long_capture: Path) -> None:
    scanned = _scan(long_capture)
    pipeline = Pipeline(partitions=4)
    stream = LiveStream(pipeline.records, _decoded(long_capture))
    try:
        first = pipeline.start_worker()
        stream.start()
        assert wait_first_message(pipeline.alerts, timeout_s=180), "no alert from the worker"
        deadline = time.monotonic() + 120
        while pipeline.committed() == 0 and time.monotonic() < deadline:
            time.sleep(0.2)  # a checkpoint has been taken: there is saved state to resume from
        committed = pipeline.committed()
        first.send_signal(signal.SIGKILL)  # mid-stream: alerts started, far from all of them
        first.wait(30)
        # host alerts so far: some of scan's.  Not campaigns: an open campaign of an
        # intermediate fingerprint (hosts whose hop distance was not known yet, alerts before
        # all their destinations) is right mid-stream, and gets a dismissed version later
        partial = {i for i in _identities(_newest(pipeline.alert_documents()))
                   if i[0] != "campaign"}
        assert partial and partial < _identities(scanned)
        published = end_offsets_total(pipeline.records, pipeline.partitions)
        assert 0 < committed <= published < len(stream.values), (
            f"killed with {committed:,} committed, {published:,} of {len(stream.values):,} "
            "published")
        stream.release.set()  # the rest of the stream arrives while no worker runs
        stream.join(120)
        assert stream.error is None, stream.error
        pipeline.start_worker()
        got = pipeline.wait_for(scanned)
        documents = pipeline.alert_documents()
    finally:
        stream.release.set()
        pipeline.stop()
    assert got == scanned, _describe(got, scanned)
    ids = [doc["alert_id"] for doc in documents]
    by_id = {}
    for doc in documents:  # a repeated alert is the same finding: same id, rule and host
        by_id.setdefault(doc["alert_id"], set()).add((doc["rule_id"], doc.get("src_ip")))
    assert all(len(v) == 1 for v in by_id.values()) and len(ids) >= len(scanned)
    versions: dict[str, list[int]] = {}
    for doc in documents:  # 1, 2, ... per alert_id; a replay after the kill may repeat some
        versions.setdefault(doc["alert_id"], []).append(doc["version"])
    assert all(v[0] == 1 and set(v) == set(range(1, max(v) + 1)) for v in versions.values())


def test_garbage_goes_to_dead_letters_and_processing_goes_on(busy_capture: Path,
                                                             scanned: dict) -> None:
    pipeline = Pipeline(partitions=2)
    garbage = [
        (b"10.9.9.9", b"\x00\x01 definitely not json"),
        (b"10.9.9.9", b'{"hello": "world"}'),
        (b"10.9.9.8", orjson.dumps({"schema_version": 1, "kind": "icmp", "initiator_ip": "10.9.9.8",
                                    "ts_ns": "yesterday"})),
    ]
    producer = Producer({"bootstrap.servers": BOOTSTRAP})
    for key, value in garbage[:2]:
        producer.produce(pipeline.records, value, key)
    producer.flush(30)
    try:
        pipeline.publish(busy_capture)
        producer.produce(pipeline.records, garbage[2][1], garbage[2][0])
        producer.flush(30)
        pipeline.start_worker()
        got = pipeline.wait_for(scanned)
        dead = consume_all(pipeline.dead_letters, expected=len(garbage), timeout_s=60)
    finally:
        pipeline.stop()
    assert got == scanned, _describe(got, scanned)
    assert sorted(m.value() for m in dead) == sorted(v for _, v in garbage)
    for message in dead:
        reason = dict(message.headers())["reason"].decode()
        assert reason and "\n" not in reason

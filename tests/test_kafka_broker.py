"""The local broker that dev/kafka/kafka.sh starts is a real Kafka that answers real API calls.

The module brings the broker up itself (idempotent: a broker already started by `make kafka-up` is
reused) and leaves it running for the other tests.
"""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic

pytestmark = pytest.mark.kafka

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "dev" / "kafka" / "kafka.sh"
PORT = int(os.environ.get("KAFKA_PORT", "9092"))
BOOTSTRAP = f"127.0.0.1:{PORT}"
DATA_DIR = Path(os.environ.get("KAFKA_DATA_DIR", ROOT / "var" / "kafka")).resolve()
PID_FILE = DATA_DIR / "kafka.pid"


def kafka_sh(command: str, timeout: float) -> subprocess.CompletedProcess[str]:
    # From another cwd on purpose: the script must find the repo from its own location.
    env = {**os.environ, "KAFKA_DATA_DIR": str(DATA_DIR)}
    return subprocess.run(
        [str(SCRIPT), command], cwd="/", env=env, capture_output=True, text=True, timeout=timeout
    )


def broker_pid() -> int | None:
    try:
        return int(PID_FILE.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None  # a broker that kafka.sh did not start (docker compose) answers instead


@pytest.fixture(scope="module")
def broker() -> int | None:
    # Cold: Java/Maven may be installed and the jars downloaded first.
    result = kafka_sh("up", timeout=900)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{BOOTSTRAP}" in result.stdout
    return broker_pid()


def test_broker_answers_metadata_request(broker: int | None) -> None:
    metadata = AdminClient({"bootstrap.servers": BOOTSTRAP}).list_topics(timeout=15)
    assert metadata.cluster_id
    assert len(metadata.brokers) == 1
    (node,) = metadata.brokers.values()
    assert (node.host, node.port) == ("127.0.0.1", PORT)


def test_topic_with_four_partitions_round_trip(broker: int | None) -> None:
    admin = AdminClient({"bootstrap.servers": BOOTSTRAP})
    topic = f"test-kafka-broker-{uuid.uuid4().hex[:10]}"
    for future in admin.create_topics([NewTopic(topic, num_partitions=4, replication_factor=1)]).values():
        future.result(timeout=30)
    try:
        assert len(admin.list_topics(topic, timeout=15).topics[topic].partitions) == 4

        producer = Producer({"bootstrap.servers": BOOTSTRAP, "acks": "all"})
        sent = {p: f"echo-{p}".encode() for p in range(4)}
        for partition, value in sent.items():
            producer.produce(topic, value=value, partition=partition)
        assert producer.flush(30) == 0

        consumer = Consumer(
            {
                "bootstrap.servers": BOOTSTRAP,
                "group.id": f"{topic}-group",
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
            }
        )
        received: dict[int, bytes] = {}
        try:
            consumer.subscribe([topic])
            deadline = time.monotonic() + 60
            while len(received) < len(sent) and time.monotonic() < deadline:
                message = consumer.poll(1.0)
                if message is None:
                    continue
                assert message.error() is None, message.error()
                received[message.partition()] = message.value()
            consumer.commit(asynchronous=False)
        finally:
            consumer.close()
        assert received == sent
    finally:
        for future in admin.delete_topics([topic]).values():
            future.result(timeout=30)


def test_up_again_is_idempotent(broker: int | None) -> None:
    started = time.monotonic()
    result = kafka_sh("up", timeout=120)
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stdout + result.stderr
    assert "already up on " + BOOTSTRAP in result.stdout
    assert elapsed < 30, f"second `up` took {elapsed:.1f} s"
    if broker is not None:
        assert broker_pid() == broker, "a second `up` must not restart the broker"
        os.kill(broker, 0)  # still alive
    AdminClient({"bootstrap.servers": BOOTSTRAP}).list_topics(timeout=15)


def test_status_reports_up(broker: int | None) -> None:
    result = kafka_sh("status", timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "up on " + BOOTSTRAP in result.stdout

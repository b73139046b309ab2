"""Helpers for tests against the real local Kafka broker that `make test` starts
(dev/kafka/kafka.sh).  No mocks: when the broker is not there, these tests fail and say how to
start it."""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from pathlib import Path

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

ROOT = Path(__file__).resolve().parent.parent
KAFKA_SH = ROOT / "dev" / "kafka" / "kafka.sh"
COORDINATOR_NOT_READY = frozenset({  # what a group's coordinator answers while it is loading
    KafkaError.NOT_COORDINATOR, KafkaError.COORDINATOR_NOT_AVAILABLE,
    KafkaError.COORDINATOR_LOAD_IN_PROGRESS, KafkaError._WAIT_COORD, KafkaError._TIMED_OUT})
BOOTSTRAP = os.environ.get("ODDPING_TEST_BOOTSTRAP",
                           f"127.0.0.1:{os.environ.get('KAFKA_PORT', '9092')}")


def require_broker() -> str:
    admin = AdminClient({"bootstrap.servers": BOOTSTRAP})
    try:
        admin.list_topics(timeout=15)
    except KafkaException as exc:
        pytest.fail(f"no Kafka broker at {BOOTSTRAP} ({exc}); `make test` starts one, "
                    f"or run `make kafka-up`")
    return BOOTSTRAP


def new_topic(partitions: int = 4, prefix: str = "test") -> str:
    name = f"{prefix}.{uuid.uuid4().hex[:10]}"
    admin = AdminClient({"bootstrap.servers": BOOTSTRAP})
    # capture timestamps are old: keep by size, as oddping's own topics do (oddping/kafka.py)
    config = {"retention.ms": "-1", "retention.bytes": str(1 << 30)}
    admin.create_topics([NewTopic(name, partitions, 1, config=config)])[name].result(30)
    return name


def consume_all(topic: str, expected: int | None = None, timeout_s: float = 60.0,
                read_committed: bool = False, idle_s: float = 3.0) -> list:
    """Every message of every partition of `topic`, from the beginning.  Stops once `expected`
    messages arrived (then waits `idle_s` more to catch duplicates) or when nothing came for
    `idle_s` after the end offsets were reached."""
    consumer = Consumer({
        "bootstrap.servers": BOOTSTRAP,
        "group.id": f"test-{uuid.uuid4().hex}",
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
        "isolation.level": "read_committed" if read_committed else "read_uncommitted",
    })
    try:
        metadata = consumer.list_topics(topic, timeout=15)
        partitions = [TopicPartition(topic, p, 0) for p in metadata.topics[topic].partitions]
        consumer.assign(partitions)
        messages = []
        deadline = time.monotonic() + timeout_s
        last_arrival = time.monotonic()
        while time.monotonic() < deadline:
            batch = consumer.consume(1000, 0.5)
            now = time.monotonic()
            for msg in batch:
                if msg.error() is None:
                    messages.append(msg)
                    last_arrival = now
            enough = expected is not None and len(messages) >= expected
            if (enough or expected is None) and now - last_arrival >= idle_s:
                break
        return messages
    finally:
        consumer.close()


def kafka_sh(*args: str, timeout: float = 180) -> None:
    subprocess.run([str(KAFKA_SH), *args], check=True, timeout=timeout,
                   stdout=subprocess.DEVNULL)


def wait_first_message(topic: str, timeout_s: float = 120.0) -> bool:
    """True as soon as any message is on `topic` (polling continuously, not in rounds)."""
    consumer = Consumer({"bootstrap.servers": BOOTSTRAP, "group.id": f"test-{uuid.uuid4().hex}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False,
                         "topic.metadata.refresh.interval.ms": 500})
    consumer.subscribe([topic])
    try:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            msg = consumer.poll(0.05)
            if msg is not None and msg.error() is None:
                return True
        return False
    finally:
        consumer.close()


def committed_total(group: str, topic: str, partitions: int) -> int:
    """Sum of a consumer group's committed offsets on a topic (a partition with none: 0).

    Read by a consumer of that group that never subscribes, not by
    AdminClient.list_consumer_group_offsets, which crashes the process when the coordinator is
    not ready yet (tests/test_kafka_client_crashes.py)."""
    consumer = Consumer({"bootstrap.servers": BOOTSTRAP, "group.id": group,
                         "enable.auto.commit": False})
    partitions_ = [TopicPartition(topic, p) for p in range(partitions)]
    deadline = time.monotonic() + 30
    try:
        while True:
            try:
                committed = consumer.committed(partitions_, timeout=15)
                return sum(max(0, tp.offset) for tp in committed)
            except KafkaException as exc:  # the coordinator is not ready yet: ask again
                if exc.args[0].code() not in COORDINATOR_NOT_READY or time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
    finally:
        consumer.close()


def end_offsets_total(topic: str, partitions: int) -> int:
    """How many messages a topic holds (sum of its partitions' high watermarks)."""
    consumer = Consumer({"bootstrap.servers": BOOTSTRAP, "group.id": f"watermarks-{uuid.uuid4()}"})
    try:
        return sum(consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
                   for p in range(partitions))
    finally:
        consumer.close()

"""Kafka clients must not crash the process (issue 19): committed offsets, admin client lifetime.

The stream bench died with SIGSEGV (exit 139, no Python traceback) right after it started its
first worker.  Its bench process polled the worker's group with
`AdminClient.list_consumer_group_offsets`.  On a broker that has never had a consumer group,
the first such request makes the broker create and load `__consumer_offsets`, and until that is
done the coordinator answers OffsetFetch with NOT_COORDINATOR / COORDINATOR_NOT_AVAILABLE.
librdkafka (2.4 to 2.16 at least) handles that answer in `rd_kafka_handle_OffsetFetch` by asking
the handle's consumer group to look the coordinator up again (`rd_kafka_cgrp_op`), and an admin
client has no consumer group: a NULL dereference in librdkafka's main thread (core dump: frames
rd_kafka_cgrp_op <- rd_kafka_handle_OffsetFetch <- rd_kafka_ListConsumerGroupOffsetsResponse_parse
<- rd_kafka_admin_worker).  It crashed in 2 of 2 tries on a fresh broker here and never on a
broker that already had a group, which is why only a new user's first run hit it.

The bench (bench/broker.CommittedOffsets) and the tests (kafkakit.committed_total) now read
committed offsets with `Consumer.committed()` of a consumer that never subscribes: it has its
group object, which handles the coordinator's "not me / not yet".  This test gives them exactly
that situation, a broker of its own started fresh for it, and runs them in a child process so a
crash fails the test instead of killing pytest.
"""

from __future__ import annotations

import gc
import os
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
KAFKA_SH = ROOT / "dev" / "kafka" / "kafka.sh"

# the child: the bench's and the tests' committed-offsets readers on a group nobody has used,
# on a broker that has never seen a consumer group, polled as the bench polls (every 0.1 s)
CHILD = r"""
import sys, time
sys.path.insert(0, sys.argv[1])
from bench import broker
from tests import kafkakit
offsets = broker.CommittedOffsets("fresh-group", "fresh-topic")
totals = []
deadline = time.monotonic() + 8
while time.monotonic() < deadline or len(totals) < 15:  # 8 s, and 5 rounds at least
    totals.append(offsets.total())
    totals.append(kafkakit.committed_total("fresh-group-2", "fresh-topic", 4))
    totals.append(offsets.members())  # describe_consumer_groups: the bench's other group call
    time.sleep(0.1)
offsets.close()
print("polls", len(totals), "max", max(totals))
"""


def _free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


@pytest.fixture(scope="module")
def fresh_broker() -> Iterator[str]:
    """A broker of this module's own, in a temporary data dir on free ports: nothing has made a
    consumer group on it yet (the shared test broker has had many)."""
    port, controller, sasl = _free_ports(3)
    with tempfile.TemporaryDirectory(prefix="oddping-fresh-kafka-") as tmp:
        env = os.environ | {"KAFKA_PORT": str(port), "CONTROLLER_PORT": str(controller),
                            "KAFKA_SASL_PORT": str(sasl), "KAFKA_DATA_DIR": f"{tmp}/kafka",
                            "KAFKA_HEAP_OPTS": "-Xms128m -Xmx512m"}
        up = subprocess.run([str(KAFKA_SH), "up"], env=env, capture_output=True, text=True,
                            timeout=300)
        try:
            assert up.returncode == 0, up.stdout + up.stderr
            yield f"127.0.0.1:{port}"
        finally:
            subprocess.run([str(KAFKA_SH), "down"], env=env, capture_output=True, timeout=120)


def test_committed_offsets_of_a_new_group_on_a_fresh_broker(fresh_broker: str) -> None:
    env = os.environ | {"ODDPING_BENCH_BOOTSTRAP": fresh_broker,
                        "ODDPING_TEST_BOOTSTRAP": fresh_broker}
    child = subprocess.run([sys.executable, "-X", "faulthandler", "-c", CHILD, str(ROOT)],
                           env=env, capture_output=True, text=True, timeout=120)
    assert child.returncode == 0, (
        f"exit {child.returncode} (-11: SIGSEGV): {child.stdout[-500:]} {child.stderr[-1500:]}")
    polls, count, _, highest = child.stdout.split()
    assert polls == "polls" and int(count) >= 15, child.stdout
    assert highest == "0", "a group that never committed has nothing committed"


# An admin client must be destroyed by the thread that drops it, never by the garbage collector:
# the collector runs in whatever thread allocates, and that can be the client's own librdkafka
# background thread (it runs Python to resolve futures), where rd_kafka_destroy() aborts the
# process.  `try: future.result() except KafkaException` makes exactly such a cycle: the raised
# exception's traceback holds the frame, whose locals hold the future (holding the exception)
# and the admin client.


def _admin_clients_alive() -> int:
    return sum(1 for o in gc.get_objects() if type(o).__name__ == "AdminClient")


def _without_gc(call) -> int:  # noqa: ANN001
    """How many admin clients `call` leaves alive once it has returned (or raised)."""
    gc.collect()
    before = _admin_clients_alive()
    gc.disable()
    try:
        try:
            call()
        except Exception:  # noqa: BLE001 - a failure is what is tested
            pass
        return _admin_clients_alive() - before
    finally:
        gc.enable()


def test_a_failed_topic_creation_leaves_no_admin_client_behind() -> None:
    from oddping.config import KafkaSettings
    from oddping.kafka import ensure_topics
    from tests.kafkakit import require_broker

    kafka = KafkaSettings(bootstrap_servers=require_broker())
    bad = {f"test.bad-config.{os.getpid()}": {"cleanup.policy": "no-such-policy"}}
    assert _without_gc(lambda: ensure_topics(kafka, bad)) == 0


def test_bench_deleting_missing_topics_leaves_no_admin_client_behind() -> None:
    from tests.kafkakit import require_broker

    os.environ.setdefault("ODDPING_BENCH_BOOTSTRAP", require_broker())
    from bench import broker

    assert _without_gc(lambda: broker.delete_topics([f"test.missing.{os.getpid()}"])) == 0
    assert _without_gc(lambda: broker.delete_groups([f"test-missing-{os.getpid()}"])) == 0

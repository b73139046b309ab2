"""Reading a consumer group's committed offsets must not crash the process (issue 19).

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
while time.monotonic() < deadline:
    totals.append(offsets.total())
    totals.append(kafkakit.committed_total("fresh-group-2", "fresh-topic", 4))
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
    assert polls == "polls" and int(count) >= 20, child.stdout
    assert highest == "0", "a group that never committed has nothing committed"

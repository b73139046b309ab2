"""The local Kafka broker as the Kafka sections use it: fresh topics per run, offsets, clean-up.

Every topic and consumer group a section makes is named ``bench.<section>.<run>...`` (or starts
with a ``bench-<section>-<run>`` app id for the faust workers, whose own topics start with it),
so they never collide with anything else on the broker and are deleted at the end.
"""

from __future__ import annotations

import os
import time
import uuid

from confluent_kafka import KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

BOOTSTRAP = os.environ.get("ODDPING_BENCH_BOOTSTRAP", "127.0.0.1:9092")
PARTITIONS = 4
#: what a group's coordinator answers while it is being elected or loaded: ask again
COORDINATOR_NOT_READY = frozenset({
    KafkaError.NOT_COORDINATOR, KafkaError.COORDINATOR_NOT_AVAILABLE,
    KafkaError.COORDINATOR_LOAD_IN_PROGRESS, KafkaError._WAIT_COORD, KafkaError._TIMED_OUT,
    KafkaError._TRANSPORT})


def admin() -> AdminClient:
    """A short-lived admin client: keep it in a variable until its futures are resolved (a client
    dropped while they wait fails them), then let it go.  Never ask one for a single topic's
    metadata: the broker auto-creates topics (auto.create.topics.enable=true), and a client that
    knows a topic by name keeps refreshing it and so re-creates it after it is deleted."""
    return AdminClient({"bootstrap.servers": BOOTSTRAP, "log_level": 3})


def require_broker() -> None:
    client = admin()
    try:
        client.list_topics(timeout=15)
    except KafkaException as exc:
        raise RuntimeError(f"no Kafka broker at {BOOTSTRAP} ({exc}); start one with "
                           f"`dev/kafka/kafka.sh up` (or make kafka-up)") from None


def run_id() -> str:
    return uuid.uuid4().hex[:8]


def create_topic(name: str, partitions: int = PARTITIONS) -> str:
    client = admin()
    # The records carry capture times, minutes to years old: kept by size, as the topics oddping
    # creates are (oddping/kafka.py).  With the broker's default 7-day time retention its next
    # check (every 5 minutes) deleted a run's records while a worker was still reading them.
    config = {"retention.ms": "-1", "retention.bytes": str(1 << 30)}
    client.create_topics([NewTopic(name, partitions, 1, config=config)])[name].result(30)
    deadline = time.monotonic() + 30  # until the metadata shows every partition with a leader
    while time.monotonic() < deadline:
        topic = client.list_topics(timeout=10).topics.get(name)
        if topic is not None and topic.error is None and len(topic.partitions) == partitions and all(
                p.leader >= 0 for p in topic.partitions.values()):
            break
        time.sleep(0.1)
    return name


def topics_with_prefix(*prefixes: str) -> list[str]:
    return sorted(t for t in admin().list_topics(timeout=15).topics
                  if any(t.startswith(p) for p in prefixes))


def delete_topics(names: list[str]) -> list[str]:
    """Delete these topics (missing ones are fine); returns the ones deleted."""
    names = [n for n in dict.fromkeys(names) if n]
    if not names:
        return []
    deleted = []
    client = admin()
    for name, future in client.delete_topics(names, operation_timeout=30).items():
        if future.exception(60) is None:  # not result() in a try: see oddping.kafka.ensure_topics
            deleted.append(name)
    return deleted


def delete_groups(groups: list[str]) -> None:
    if not groups:
        return
    client = admin()
    for future in client.delete_consumer_groups(groups, request_timeout=30).values():
        future.exception(60)  # done, failed or not (missing groups are fine)


class Watermarks:
    """Sum of a topic's high watermarks, polled with one consumer (0 while the topic is missing)."""

    def __init__(self, topic: str, partitions: int = PARTITIONS) -> None:
        from confluent_kafka import Consumer

        self.consumer = Consumer({"bootstrap.servers": BOOTSTRAP, "group.id": f"bench-wm-{run_id()}",
                                  "enable.auto.commit": False, "allow.auto.create.topics": False})
        self.partitions = [TopicPartition(topic, p) for p in range(partitions)]

    def total(self) -> int:
        try:
            return sum(self.consumer.get_watermark_offsets(tp, timeout=5, cached=False)[1]
                       for tp in self.partitions)
        except KafkaException:
            return 0

    def close(self) -> None:
        self.consumer.close()


def end_offsets(topic: str) -> dict[int, int]:
    """partition -> high watermark (the next offset to be written)."""
    from confluent_kafka import Consumer

    consumer = Consumer({"bootstrap.servers": BOOTSTRAP, "group.id": f"bench-offsets-{run_id()}",
                         "enable.auto.commit": False, "allow.auto.create.topics": False})
    try:
        partitions = admin().list_topics(timeout=15).topics[topic].partitions
        return {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=15)[1]
                for p in partitions}
    finally:
        consumer.close()


class CommittedOffsets:
    """The committed offsets of one consumer group on one topic, fetched with
    Consumer.committed() of a consumer in that group that never subscribes (so it never joins
    the group): one OffsetFetch request per call.

    Not AdminClient.list_consumer_group_offsets: librdkafka (2.4 to 2.16 at least) crashes the
    process when the group's coordinator answers that request with NOT_COORDINATOR or
    COORDINATOR_NOT_AVAILABLE, as a broker does while it creates and loads __consumer_offsets
    (the first consumer group on a fresh broker, or after a restart): rd_kafka_handle_OffsetFetch
    asks the handle's consumer group to look the coordinator up again, and an admin client has
    none (rd_kafka_cgrp_op on a NULL group, a SIGSEGV in librdkafka's own thread, so no Python
    traceback).  A consumer has its group object, which handles the retry."""

    def __init__(self, group: str, topic: str, partitions: int = PARTITIONS) -> None:
        from confluent_kafka import Consumer

        self.admin = admin()  # for members() (describe_consumer_groups has no such path)
        self.consumer = Consumer({"bootstrap.servers": BOOTSTRAP, "group.id": group,
                                  "enable.auto.commit": False, "log_level": 3})
        self.partitions = [TopicPartition(topic, p) for p in range(partitions)]
        self.group = group
        self.last = 0

    def total(self) -> int:
        """Sum of the committed offsets (a partition with none counts 0); while the group's
        coordinator is not ready (a fresh broker's first group), the last sum seen."""
        try:
            committed = self.consumer.committed(self.partitions, timeout=15)
        except KafkaException as exc:
            if exc.args[0].code() not in COORDINATOR_NOT_READY:
                raise
            return self.last
        self.last = sum(max(0, tp.offset) for tp in committed)
        return self.last

    def close(self) -> None:
        self.consumer.close()

    def members(self) -> int:
        """How many members the group has now (0 when it is not known yet)."""
        future = self.admin.describe_consumer_groups([self.group], request_timeout=10)[self.group]
        if future.exception(15) is not None:  # not result() in a try: see delete_topics
            return 0
        return len(future.result().members)

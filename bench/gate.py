"""The stream section's two-worker runs: the group is formed before the records arrive.

Started on records already published, the first worker to join takes every partition and works
alone until the second's join moves half of them (the dev broker forms a new group at once:
group.initial.rebalance.delay.ms=0, where Kafka's default waits 3 s for more members); after
that rebalance the worker that gave partitions up stalled 1-2 s, and the new owners replayed what
it had not checkpointed.  When one worker does the whole capture in ~5 s, that start was most of
a two-worker run (1.06x one worker in one run, 1.88x in another).  In production workers run
for days and a rebalance is rare; scaling is two members sharing partitions.  So:

1. before the run (not timed) the records topic's messages are read once into a file
   (``snapshot``: partition, key, value, headers, timestamp of each);
2. the workers start on a fresh, empty records topic; ``wait_stable`` waits until the group
   is Stable with every worker a member and every records partition assigned;
3. the workers are stopped (SIGSTOP: a couple of seconds, well within their 10-s session
   timeout, so the group stays as it is) while ``python -m bench.gate publish TOPIC FILE
   BOOTSTRAP`` writes the same messages to the same partitions with a bare confluent-kafka
   producer (oddping produce's compression, lz4); then they go on (SIGCONT) and take every
   record from the broker, as a one-worker run does.  Publishing while they consumed, their
   rate was measured over the few seconds left after the publisher ended, with the broker
   still busy with its writes: 1.53-2.09x one worker from run to run (issue 19).
"""

from __future__ import annotations

import json
import pickle
import sys
import time

from confluent_kafka import Consumer, ConsumerGroupState, Producer, TopicPartition

from . import broker

#: how long the group may take to form (two joins and a rebalance; heartbeats are 1 s)
FORM_TIMEOUT_S = 120
#: how long publishing the capture may take
PUBLISH_TIMEOUT_S = 300


def snapshot(topic: str, path: str) -> int:
    """Every message of `topic` into `path` (a pickle of (partition, key, value, headers,
    timestamp ms)); returns how many."""
    ends = broker.end_offsets(topic)
    consumer = Consumer({"bootstrap.servers": broker.BOOTSTRAP,
                         "group.id": f"bench-gate-{broker.run_id()}", "enable.auto.commit": False,
                         "log_level": 3})
    consumer.assign([TopicPartition(topic, p, 0) for p in ends])
    messages = []
    want = sum(ends.values())
    deadline = time.monotonic() + 300
    try:
        while len(messages) < want and time.monotonic() < deadline:
            for m in consumer.consume(10_000, timeout=1.0):
                if m.error() is None:
                    messages.append((m.partition(), m.key(), m.value(), m.headers(),
                                     m.timestamp()[1]))
    finally:
        consumer.close()
    if len(messages) < want:
        raise RuntimeError(f"read {len(messages):,} of {want:,} messages of {topic}")
    with open(path, "wb") as f:
        pickle.dump(messages, f, protocol=pickle.HIGHEST_PROTOCOL)
    return len(messages)


def wait_stable(group: str, topic: str, members: int, partitions: int = broker.PARTITIONS,
                timeout_s: float = FORM_TIMEOUT_S) -> float:
    """Wait until `group` is Stable with `members` members that between them hold every
    partition of `topic`, each at least one; returns the seconds waited."""
    client = broker.admin()
    started = time.monotonic()
    seen = "not described yet"
    while time.monotonic() - started < timeout_s:
        future = client.describe_consumer_groups([group], request_timeout=10)[group]
        if future.exception(15) is None:
            described = future.result()
            held = [{tp.partition for tp in m.assignment.topic_partitions if tp.topic == topic}
                    for m in described.members]
            seen = f"{described.state}, {len(held)} members holding {held}"
            if (described.state == ConsumerGroupState.STABLE and len(held) == members
                    and all(held) and set().union(*held) == set(range(partitions))):
                return time.monotonic() - started
        time.sleep(0.2)
    raise RuntimeError(f"group {group} not formed in {timeout_s:.0f} s: {seen}")


def publish(topic: str, path: str, bootstrap: str) -> dict:
    with open(path, "rb") as f:
        messages = pickle.load(f)
    producer = Producer({"bootstrap.servers": bootstrap, "compression.type": "lz4",
                         "linger.ms": 20, "batch.size": 1_000_000, "acks": "all",
                         "queue.buffering.max.messages": 1_000_000, "log_level": 3})
    started = time.perf_counter()
    produce, poll = producer.produce, producer.poll
    for n, (partition, key, value, headers, ts_ms) in enumerate(messages):
        while True:
            try:
                produce(topic, value, key, partition, timestamp=ts_ms, headers=headers)
                break
            except BufferError:
                poll(0.05)
        if n % 10_000 == 0:
            poll(0)
    left = producer.flush(120)
    return {"messages": len(messages), "seconds": time.perf_counter() - started,
            "not_delivered": left}


if __name__ == "__main__":
    if sys.argv[1] != "publish" or len(sys.argv) != 5:
        raise SystemExit("usage: python -m bench.gate publish TOPIC FILE BOOTSTRAP")
    print(json.dumps(publish(*sys.argv[2:5])))

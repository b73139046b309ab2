"""The stream worker's bookkeeping without a broker (processors/stream/batch.py): every message
processed, skipped as a replay or dead-lettered; state saved only at checkpoints; a worker that
dies between checkpoints and replays from the last one finds exactly what scan finds."""

from __future__ import annotations

import zlib

import orjson
from test_engine import final, mix, reference  # noqa: F401 (the engine tests' fixtures)

from processors.engine import Engine
from processors.stream.batch import BatchProcessor, Message

PARTITIONS = 4


def as_messages(records: list[dict]) -> list[Message]:
    """As a worker reads them: partition by key, offsets per partition, in record order."""
    offsets = [0] * PARTITIONS
    messages = []
    for record in records:
        key = record["initiator_ip"].encode()
        partition = zlib.crc32(key) % PARTITIONS
        messages.append(Message(partition, offsets[partition], key, orjson.dumps(record)))
        offsets[partition] += 1
    return messages


class Worker:
    """A BatchProcessor with a table it saves to at checkpoints, and the offsets a checkpoint
    lets faust commit (next offset to read, per partition)."""

    def __init__(self, table: dict[str, bytes], committed: dict[int, int]) -> None:
        self.table = table
        self.committed = committed
        self.processor = BatchProcessor(lambda: Engine(track_changes=True), table.get)
        self.alerts: list = []
        self.consumed_since_checkpoint: list[Message] = []

    def take(self, batch: list[Message]) -> None:
        self.alerts += self.processor.process(batch).alerts
        self.consumed_since_checkpoint += batch

    def checkpoint(self) -> None:
        for host, (_partition, value) in self.processor.checkpoint().items():
            if value is None:
                self.table.pop(host, None)
            else:
                self.table[host] = value
        for message in self.consumed_since_checkpoint:
            self.committed[message.partition] = max(self.committed.get(message.partition, 0),
                                                    message.offset + 1)
        self.consumed_since_checkpoint = []


def uncommitted(messages: list[Message], committed: dict[int, int]) -> list[Message]:
    return [m for m in messages if m.offset >= committed.get(m.partition, 0)]


def test_a_crash_between_checkpoints_replays_without_losing_or_doubling(mix, reference):
    messages = as_messages(mix)
    table: dict[str, bytes] = {}
    committed: dict[int, int] = {}
    first = Worker(table, committed)
    cut, crash = len(messages) // 3, 2 * len(messages) // 3
    for i in range(0, crash, 50):
        first.take(messages[i:i + 50])
        if i + 50 >= cut and not committed:
            first.checkpoint()  # one checkpoint a third of the way; then work, and die
    assert 0 < sum(committed.values()) < crash

    second = Worker(table, committed)  # restarted: the table and committed offsets survive
    second.alerts += second.processor.adopt_saved(table.items()).alerts
    replay = uncommitted(messages, committed)
    for i in range(0, len(replay), 50):
        second.take(replay[i:i + 50])
    second.alerts += second.processor.engine.flush()

    # same final alerts as one uninterrupted run; a repeated alert is the same finding
    assert final(first.alerts + second.alerts) == reference
    assert second.processor.stats.replays_skipped == 0  # the checkpoint saved state and offsets together


def test_state_newer_than_the_committed_offset_skips_what_it_has_seen(mix, reference):
    """A checkpoint's state reached the changelog but the worker died before its offsets were
    committed: the replay re-reads those records and the saved offsets skip them."""
    messages = as_messages(mix)
    table: dict[str, bytes] = {}
    committed: dict[int, int] = {}
    first = Worker(table, committed)
    half = len(messages) // 2
    first.take(messages[:half])
    for host, (_partition, value) in first.processor.checkpoint().items():
        if value is not None:
            table[host] = value  # saved ... and then killed before the commit
    second = Worker(table, committed)
    second.alerts += second.processor.adopt_saved(table.items()).alerts
    second.take(messages)
    second.alerts += second.processor.engine.flush()
    assert final(first.alerts + second.alerts) == reference
    # all of the first half but the records of hosts already expired (no saved state to skip by)
    expired = {orjson.loads(m.value)["initiator_ip"] for m in messages[:half]} - set(table)
    assert second.processor.stats.replays_skipped == sum(
        1 for m in messages[:half] if orjson.loads(m.value)["initiator_ip"] not in expired)


def test_checkpoint_exports_each_changed_host_once_and_only_changed_ones(mix):
    messages = as_messages(mix)
    worker = Worker({}, {})
    worker.take(messages[:200])
    hosts = {orjson.loads(m.value)["initiator_ip"] for m in messages[:200]}
    updates = worker.processor.checkpoint()
    assert set(updates) == hosts
    for host, (partition, value) in updates.items():
        entry = orjson.loads(value)
        assert entry["partition"] == partition == zlib.crc32(host.encode()) % PARTITIONS
        assert entry["state"]["ip"] == host
    assert worker.processor.checkpoint() == {}  # nothing changed since


def test_garbage_is_dead_lettered_with_a_reason_and_the_rest_processed(mix):
    good = as_messages(mix[:300])
    garbage = [Message(0, 10_000, b"x", b"\x00 not json"),
               Message(1, 10_000, b"x", b'{"hello": "world"}'),
               Message(2, 10_000, b"x", None),
               Message(3, 10_000, b"10.9.9.8", orjson.dumps(
                   {"kind": "icmp", "initiator_ip": "10.9.9.8", "ts_ns": "yesterday"}))]
    processor = BatchProcessor(lambda: Engine(track_changes=True), lambda _host: None)
    result = processor.process(good[:150] + garbage + good[150:])
    reasons = [dead.reason for dead in result.dead_letters]
    assert [dead.message for dead in result.dead_letters] == garbage
    assert reasons[0].startswith("not JSON") and reasons[1].startswith("not an oddping record")
    assert reasons[3].startswith("invalid record")
    assert all(reason and "\n" not in reason for reason in reasons)
    assert processor.stats.consumed == len(good) + len(garbage)
    assert processor.engine.stats.records_seen == len(good) + 1  # the invalid one is counted


def test_revoked_partitions_are_forgotten_with_their_pending_changes(mix):
    messages = as_messages(mix)
    worker = Worker({}, {})
    worker.take(messages[:400])
    worker.processor.forget_partitions({0, 1})
    kept = {host for host in worker.processor.engine.hosts}
    assert kept and all(zlib.crc32(h.encode()) % PARTITIONS in (2, 3) for h in kept)
    assert {p for p, _ in worker.processor.checkpoint().values()} <= {2, 3}


def test_a_stream_that_goes_quiet_shows_the_final_content_in_its_newest_versions(mix, reference):
    """A replayed capture ends; its last windows stay open (they close on event time, which
    stops with the input).  What the worker emits once its input is quiet (flush_idle) makes
    the newest version of every alert_id carry scan's final content: on one worker or split
    over several, with a crash and replay in between."""
    from processors.lifecycle import content
    from processors.scan import latest_versions

    for workers in (1, 3):
        newest: dict[str, dict] = {}
        statuses = set()
        for worker in range(workers):
            part = [r for r in mix if zlib.crc32(r["initiator_ip"].encode()) % workers == worker]
            messages = as_messages(part)
            table: dict[str, bytes] = {}
            committed: dict[int, int] = {}
            first = Worker(table, committed)
            for i in range(0, len(messages) // 2, 50):
                first.take(messages[i:i + 50])
            first.checkpoint()
            first.take(messages[len(messages) // 2:len(messages) // 2 + 200])  # then dies
            second = Worker(table, committed)
            second.alerts += second.processor.adopt_saved(table.items()).alerts
            replay = uncommitted(messages, committed)
            for i in range(0, len(replay), 50):
                second.take(replay[i:i + 50])
            second.alerts += second.processor.flush_idle().alerts
            for alert in latest_versions(first.alerts + second.alerts):
                newest[alert.alert_id] = content(alert.doc)
                statuses.add(alert.doc["status"])
        assert newest == reference, f"{workers} workers"
        assert statuses == {"open", "closed"}  # some windows closed in the stream, some not

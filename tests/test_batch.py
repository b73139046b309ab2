"""The stream worker's bookkeeping without a broker (processors/stream/batch.py): every message
processed, skipped as a replay or dead-lettered; state saved only at checkpoints; a worker that
dies between checkpoints and replays from the last one finds exactly what scan finds."""

from __future__ import annotations

import zlib

import orjson
from test_engine import final, mix, reference  # noqa: F401 (the engine tests' fixtures)

from processors.engine import Engine
from processors.partitions import partition_of
from processors.stream.batch import BatchProcessor, Message, flood_key

PARTITIONS = 4


def as_messages(records: list[dict]) -> list[Message]:
    """As a worker reads them: partitioned by key as the producer does (processors/
    partitions.py, what the flood monitor counts by), offsets per partition, in record order."""
    offsets = [0] * PARTITIONS
    messages = []
    for record in records:
        key = record["initiator_ip"].encode()
        partition = partition_of(record["initiator_ip"], PARTITIONS)
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
    # all of the first half: by the hosts' saved offsets, and for the hosts already gone
    # (expired: no saved state to skip by) by their partition's, saved with its flood counting
    gone = {orjson.loads(m.value)["initiator_ip"] for m in messages[:half]} - set(table)
    assert gone and any(key.startswith("flood:") for key in table)
    assert second.processor.stats.replays_skipped == half


def test_checkpoint_exports_each_changed_host_once_and_only_changed_ones(mix):
    messages = as_messages(mix)
    worker = Worker({}, {})
    worker.take(messages[:200])
    hosts = {orjson.loads(m.value)["initiator_ip"] for m in messages[:200]}
    updates = worker.processor.checkpoint()
    # and the flood monitor's counting of the partitions where it counted new sources
    floods = set(updates) - hosts
    assert hosts <= set(updates) and floods
    assert floods <= {flood_key(partition_of(host, PARTITIONS)) for host in hosts}
    for host, (partition, value) in updates.items():
        entry = orjson.loads(value)
        if host in floods:
            assert host == flood_key(partition) and entry["state"]["targets"]
            continue
        assert entry["partition"] == partition == partition_of(host, PARTITIONS)
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
    assert kept and all(partition_of(h, PARTITIONS) in (2, 3) for h in kept)
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


def test_a_flood_goes_on_as_one_alert_when_its_worker_restarts_mid_flood():
    """1,500 spoofed sources at one target in 1.5 s: each partition's share of min_sources
    (250) makes the flood, and the ~300 sources admitted before it was recognised are folded
    back (the alerts of the few whose open version went out first dismissed).  The worker checkpoints 45 % in, works on and dies
    75 % in; its successor takes the table and replays.  The flood monitor's counting was in
    the table (``flood:<partition>``, processors/flood.py): the successor ends exactly as one
    uninterrupted run, the flood's alert numbered on, and no spoofed source becomes a host
    with alerts of its own (which a successor counting afresh made of the sources after the
    restart: too few per partition for a flood of their own)."""
    from processors.lifecycle import content
    from processors.scan import latest_versions
    from samples.records import flood

    def outcome(alerts: list) -> dict[str, tuple]:
        return {a.alert_id: (a.doc["status"], a.doc["version"], content(a.doc))
                for a in latest_versions(alerts)}

    records = flood()[600:]  # the spoofed sources only
    expected = Engine()
    reference = outcome([a for r in records for a in expected.process(r)] + expected.flush())
    from processors.flood import FORMING_SOURCES

    statuses = sorted(status for status, _, _ in reference.values())
    # the flood, and the alerts of sources whose open version went out before the flood was
    # seen forming (then dismissed): tiny and scanner of at most FORMING_SOURCES per partition
    assert statuses[0] == "closed" and set(statuses[1:]) <= {"dismissed"}
    assert len(statuses) - 1 <= FORMING_SOURCES * 4 * 2

    messages = as_messages(records)
    table: dict[str, bytes] = {}
    committed: dict[int, int] = {}
    first = Worker(table, committed)
    cut, crash = int(len(messages) * 0.45), int(len(messages) * 0.75)
    first.take(messages[:cut])
    first.checkpoint()
    assert {f"flood:{p}" for p in range(PARTITIONS)} <= set(table)
    first.take(messages[cut:crash])  # and dies
    second = Worker(table, committed)
    second.alerts += second.processor.adopt_saved(table.items()).alerts
    second.take(uncommitted(messages, committed))
    second.alerts += second.processor.engine.flush()

    assert outcome(first.alerts + second.alerts) == reference
    assert second.processor.engine.stats.hosts_tracked == 0


def test_a_flood_state_past_its_bound_leaves_the_admitted_sources_out(monkeypatch):
    """An adversary spreading sources over many targets could make a partition's admitted
    source lists larger than a changelog message: the export stays under its bound."""
    import processors.flood
    from recordkit import at, request

    engine = Engine(track_changes=True)
    for n in range(400):  # 400 targets, one new source each
        engine.process(request(f"100.64.{n // 250}.{n % 250 + 1}", f"192.0.2.{n % 200}",
                               at(n / 1000), payload_class="empty"))
    full = engine.floods.export_partition(0)
    monkeypatch.setattr(processors.flood, "FLOOD_STATE_MAX_BYTES", len(full) - 1)
    trimmed = engine.floods.export_partition(0)
    assert len(trimmed) < len(full) and engine.floods.trimmed_exports == 1
    assert all(target[3] == [] for target in orjson.loads(trimmed)["targets"])
    assert any(target[3] for target in orjson.loads(full)["targets"])

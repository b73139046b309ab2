"""The host stage's outbox (processors/stream/batch.py), without a broker: behaviour updates
reach the campaign stage only once a checkpoint has saved them with their hosts' state, so a
worker that dies (or loses its partitions) between checkpoints leaves nothing the replaying
owner cannot withdraw, and one that dies between saving and publishing has them published
again by the next owner.  Each worker here is a BatchProcessor with a table and committed
offsets (as in tests/test_batch.py), the campaign stage a CampaignStage fed what the
checkpoints publish, in that order; the test through the real broker is
tests/test_campaigns_kafka.py."""

from __future__ import annotations

import orjson
import pytest
from fleetkit import fleet, fleet_host
from test_batch import as_messages, uncommitted

from oddping.config import Settings
from processors import scan_records
from processors.campaign.run import campaigns
from processors.campaign.stage import CampaignStage
from processors.engine import Engine
from processors.lifecycle import content
from processors.stream.batch import BatchProcessor, Message

SETTINGS = Settings(campaigns={"stream": True})


class Worker:
    def __init__(self, table: dict[str, bytes], committed: dict[int, int],
                 stage: CampaignStage) -> None:
        self.table, self.committed, self.stage = table, committed, stage
        self.processor = BatchProcessor(lambda: Engine(SETTINGS, track_changes=True),
                                        table.get, SETTINGS.campaigns)
        self.consumed: list[Message] = []

    def take(self, batch: list[Message]) -> None:
        self.processor.hold_behaviours(self.processor.process(batch).alerts)
        self.consumed += batch

    def save(self) -> None:
        """The first half of a checkpoint: the entries to the table."""
        for host, (_partition, value) in self.processor.checkpoint().items():
            if value is None:
                self.table.pop(host, None)
            else:
                self.table[host] = value

    def checkpoint(self) -> None:
        self.save()
        for key, value in self.processor.take_behaviours():  # published, then acked
            self.stage.add(key, orjson.loads(value))
        for m in self.consumed:
            self.committed[m.partition] = max(self.committed.get(m.partition, 0), m.offset + 1)
        self.consumed = []

    def end(self) -> None:
        """The input ends: every window closes, and a last checkpoint publishes it."""
        self.processor.hold_behaviours(self.processor.engine.flush())
        self.checkpoint()


@pytest.fixture(scope="module")
def records() -> list[dict]:
    return fleet(20)


@pytest.fixture(scope="module")
def scanned(records) -> list[dict]:
    alerts, _ = scan_records(records, SETTINGS)
    return [content(c.doc) for c in campaigns(alerts, SETTINGS.campaigns)]


def _ahead(records: list[dict]) -> list[Message]:
    """The fleet's first 20 s, then the last host's later records, then everyone else's: the
    order in which the first worker's event time runs ahead of most hosts."""
    cut = records[0]["ts_ns"] + 20 * 10**9
    last = fleet_host(19)
    order = ([r for r in records if r["ts_ns"] < cut]
             + [r for r in records if r["ts_ns"] >= cut and r["initiator_ip"] == last]
             + [r for r in records if r["ts_ns"] >= cut and r["initiator_ip"] != last])
    return as_messages(order)


def _final(stage: CampaignStage) -> list[dict]:
    return [content(doc) for doc in stage.flush()]


def test_a_kill_between_checkpoints_leaves_no_stale_behaviour(records, scanned):
    messages = _ahead(records)
    first_slice = sum(1 for r in records if r["ts_ns"] < records[0]["ts_ns"] + 20 * 10**9)
    table: dict[str, bytes] = {}
    committed: dict[int, int] = {}
    stage = CampaignStage(SETTINGS.campaigns)
    first = Worker(table, committed, stage)
    first.take(messages[:first_slice])
    first.checkpoint()
    for i in range(first_slice, len(messages), 10):  # event time ahead: first versions at once
        first.take(messages[i:i + 10])
    # killed: what it emitted since the checkpoint reached no one
    assert first.processor.take_behaviours() == []
    second = Worker(table, committed, stage)
    second.processor.hold_behaviours(second.processor.adopt_saved(table.items()).alerts)
    # the replay meets each partition's records in turn, the last host's partition last
    replay = sorted(uncommitted(messages, committed),
                    key=lambda m: (m.partition == _partition_of(fleet_host(19)), m.offset))
    for i in range(0, len(replay), 10):
        second.take(replay[i:i + 10])
        if i == 50:
            second.checkpoint()
    second.end()
    assert _final(stage) == scanned


def _partition_of(host: str) -> int:
    return next(m.partition for m in as_messages([{"initiator_ip": host}]))


def test_behaviours_saved_but_not_published_are_published_by_the_next_owner(records, scanned):
    messages = as_messages(records)
    table: dict[str, bytes] = {}
    committed: dict[int, int] = {}
    stage = CampaignStage(SETTINGS.campaigns)
    first = Worker(table, committed, stage)
    first.take(messages)
    first.processor.hold_behaviours(first.processor.engine.flush())
    first.save()  # the entries (outboxes in them) are in the changelog ... then killed
    assert any("outbox" in orjson.loads(v) for v in table.values())
    second = Worker(table, committed, stage)
    second.processor.hold_behaviours(second.processor.adopt_saved(table.items()).alerts)
    second.take(uncommitted(messages, committed))  # all skipped by the saved offsets
    second.checkpoint()
    assert second.processor.stats.replays_skipped == len(messages)
    assert _final(stage) == scanned


def test_a_dropped_host_keeps_its_entry_until_its_outbox_is_out(records):
    messages = as_messages(records)
    table: dict[str, bytes] = {}
    stage = CampaignStage(SETTINGS.campaigns)
    worker = Worker(table, {}, stage)
    worker.take(messages)
    worker.checkpoint()
    host = fleet_host(0)
    # the host expires (capture time far past it): its closed versions wait in the outbox
    worker.processor.hold_behaviours(
        worker.processor.engine.flush(records[-1]["ts_ns"] + 10**15))
    assert host not in worker.processor.engine.hosts
    worker.save()
    entry = orjson.loads(table[host])
    assert entry["state"] is None and entry["outbox"]
    worker.checkpoint()  # published; the entry goes at the next one
    worker.checkpoint()
    assert host not in table

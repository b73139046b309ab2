"""Batches of records from the topic -> engine -> alerts and dead letters; checkpoints -> table.

Kept apart from faust so the bookkeeping can be read (and tested) without a broker:

- every message ends up either processed, skipped as a replay (its offset is not newer than the
  one its host's saved state has already seen) or dead-lettered with a reason;
- each host's table entry is {"partition", "offset", "state"}: the engine's exported state plus
  the last offset applied to it, so a worker restarted after a crash re-reads uncommitted
  messages without applying them twice;
- state is exported at checkpoints, not per batch: a busy host changes in nearly every batch,
  and exporting (and sending) its whole state each time cost more than detecting.  Between
  checkpoints nothing is committed (app.py acks the messages only once their hosts' state is
  in the changelog), so a crash replays from the last checkpoint instead of losing anything;
- the flood monitor's counting of each records partition (processors/flood.py) is an entry of
  the same table, keyed ``flood:<partition>`` (never an address), saved at the checkpoints
  where it changed with the partition's last offset applied: a restarted worker, or the
  partition's next owner, goes on counting (a flood under way stays one alert, its versions
  numbered on), and a replayed record of a host with no saved state that this offset covers
  is skipped: the saved states already hold what it did (its source folded into a flood, or
  its host gone before the checkpoint);
- behaviour updates for the campaign stage (processors/stream/campaigns.py) leave through an
  *outbox*: a host's behaviour alerts emitted since the last checkpoint are coalesced (the
  latest version of each, and a withdrawal from every stage key an earlier version went to)
  and written into the host's table entry with its state; only once that entry is in the
  changelog are they published.  So a stage key the campaign stage has heard of is always in a
  saved state, and a host's next owner (after a rebalance or a kill) withdraws the alert from
  it; and an entry restored with its outbox publishes it again (the stage ignores an update it
  already holds), in case the worker died between saving and publishing.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Sequence

import orjson

from oddping.config import CampaignSettings
from processors.alerts import Alert
from processors.campaign.fingerprint import update_of
from processors.engine import Engine
from processors.lifecycle import DISMISSED


@dataclass(slots=True)
class Message:
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


@dataclass
class DeadLetter:
    message: Message
    reason: str


@dataclass
class BatchResult:
    alerts: list[Alert] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)


#: host (or flood_key) -> (partition, serialized table value, or None to delete the entry)
TableUpdates = dict[str, tuple[int, bytes | None]]

FLOOD_KEY_PREFIX = "flood:"


def flood_key(partition: int) -> str:
    """The table key of a records partition's flood counting."""
    return f"{FLOOD_KEY_PREFIX}{partition}"

#: a behaviour update on its way to the campaign stage: (stage key, update as JSON)
Behaviour = tuple[str, bytes]


@dataclass
class StreamStats:
    consumed: int = 0
    replays_skipped: int = 0
    dead_letters: Counter = field(default_factory=Counter)


class BatchProcessor:
    def __init__(self, engine_factory: Callable[[], Engine],
                 table_get: Callable[[str], bytes | None],
                 campaigns: CampaignSettings | None = None) -> None:
        self._table_get = table_get
        self.engine = engine_factory()
        self.stats = StreamStats()
        self._offset: dict[str, int] = {}  # host -> last offset applied
        self._partition: dict[str, int] = {}  # host -> partition its records come from
        #: the campaign stage's settings when the worker runs it (None: no outbox)
        self.campaigns = campaigns
        #: host -> alert_id -> [its latest behaviour alert version, stage keys to withdraw
        #: it from]: emitted since the last checkpoint, not saved yet
        self._outbox: dict[str, dict[str, list]] = {}
        #: saved and due to be published at the end of the checkpoint that saved them
        self._saved_behaviours: list[Behaviour] = []
        #: (host, stage key, update) restored with a host's entry: published at the next
        #: checkpoint
        self._restored_behaviours: list[tuple[str, str, bytes]] = []
        #: hosts whose entry stayed only to carry their outbox: deleted at the next checkpoint
        self._outbox_only: set[str] = set()
        #: partition -> last offset applied (saved with its flood counting)
        self._partition_offset: dict[int, int] = {}
        #: partitions whose saved flood counting has been looked for
        self._flood_looked_up: set[int] = set()

    def _load_state(self, host: str) -> dict[str, Any] | None:
        saved = self._table_get(host)
        if saved is None:
            return None
        entry = orjson.loads(saved)
        self._offset[host] = entry["offset"]
        self._partition[host] = entry["partition"]
        self._restore_outbox(host, entry)
        return entry["state"]

    def _restore_outbox(self, host: str, entry: dict[str, Any]) -> None:
        outbox = entry.get("outbox")
        if outbox and self.campaigns is not None:
            self._restored_behaviours.extend(
                (host, key, orjson.dumps(update)) for key, update in outbox)
        if entry["state"] is None:  # a dropped host's last outbox: the entry goes next time
            self._outbox_only.add(host)

    def process(self, messages: Sequence[Any], partition: int | None = None) -> BatchResult:
        """messages: anything with offset, key and value (a chunk's records, Message);
        partition: the one they all come from (a chunk's), or None to read each one's own."""
        result = BatchResult()
        engine = self.engine
        stats = self.stats
        for message in messages:
            stats.consumed += 1
            source = message.partition if partition is None else partition
            try:
                record = orjson.loads(message.value or b"")
            except orjson.JSONDecodeError as exc:
                self._dead_letter(result, message, source, f"not JSON: {exc}")
                continue
            if not isinstance(record, dict) or not isinstance(record.get("initiator_ip"), str):
                self._dead_letter(result, message, source,
                                  "not an oddping record (no initiator_ip)")
                continue
            host = record["initiator_ip"]
            if source not in self._flood_looked_up:
                self._flood_looked_up.add(source)
                saved = self._table_get(flood_key(source))
                if saved is not None:
                    self._adopt_flood(source, saved)
            if host not in self._offset and host not in engine.hosts:
                # first record of this host here: its saved state (and offset) come first
                state = self._load_state(host)
                if state is not None:
                    result.alerts.extend(engine.load_state(host, state))
            if message.offset <= self._offset.get(host, -1) or (
                    message.offset <= self._partition_offset.get(source, -1)
                    and host not in engine.hosts):
                stats.replays_skipped += 1
                continue
            self._partition_offset[source] = message.offset
            invalid_before = engine.stats.invalid_records
            result.alerts.extend(engine.process(record))
            if engine.stats.invalid_records != invalid_before:
                reason = engine.stats.last_invalid_reason or "schema"
                self._dead_letter(result, message, source, f"invalid record: {reason}")
                continue
            if host in engine.hosts:  # a flood's folded source has no state, and no entry
                self._offset[host] = message.offset
                self._partition[host] = source
        return result

    def adopt_saved(self, entries: Iterable[tuple[str, bytes]]) -> BatchResult:
        """After a (re)start or rebalance, take over every host whose state this worker now
        holds, not only those that send again: a host whose last records were processed before
        the restart still has windows to emit."""
        result = BatchResult()
        for host, saved in entries:
            if host.startswith(FLOOD_KEY_PREFIX):
                partition = int(host[len(FLOOD_KEY_PREFIX):])
                if partition not in self._flood_looked_up:
                    self._flood_looked_up.add(partition)
                    self._adopt_flood(partition, saved)
                continue
            if host in self.engine.hosts:
                continue
            if host in self._offset:
                continue  # loaded already (a dropped host's entry, kept for its outbox)
            entry = orjson.loads(saved)
            self._offset[host] = entry["offset"]
            self._partition[host] = entry["partition"]
            self._restore_outbox(host, entry)
            if entry["state"] is not None:
                result.alerts.extend(self.engine.load_state(host, entry["state"]))
        return result

    def hold_behaviours(self, alerts: Iterable[Alert]) -> None:
        """Alert versions sent: those of behaviours wait in their host's outbox for the next
        checkpoint (coalesced: one update per alert, whatever its versions since)."""
        if self.campaigns is None:
            return
        for alert in alerts:
            doc = alert.doc
            if "behaviour_id" not in doc:
                continue
            held = self._outbox.setdefault(doc["src_ip"], {}).get(doc["alert_id"])
            if held is None:
                self._outbox[doc["src_ip"]][doc["alert_id"]] = [
                    alert, {alert.moved_from} if alert.moved_from else set()]
            else:
                held[0] = alert
                if alert.moved_from:
                    held[1].add(alert.moved_from)

    def _outbox_of(self, host: str) -> list[tuple[str, dict[str, Any]]]:
        """A host's held behaviour alerts as (stage key, update) messages: the withdrawals
        from the keys earlier versions went to first, then the latest version's update."""
        out: list[tuple[str, dict[str, Any]]] = []
        for alert, moved in self._outbox.pop(host, {}).values():
            found = update_of(alert.doc, self.campaigns)
            if found is None:
                continue
            key, update = found
            out += [(old, dict(update, status=DISMISSED)) for old in sorted(moved - {key})]
            out.append((key, update))
        return out

    def take_behaviours(self) -> list[Behaviour]:
        """The behaviour updates to publish now that the checkpoint's entries are saved: those
        restored with entries first (older), then the ones this checkpoint saved."""
        out = [(key, value) for _, key, value in self._restored_behaviours]
        out += self._saved_behaviours
        self._restored_behaviours, self._saved_behaviours = [], []
        return out

    def flush_idle(self) -> BatchResult:
        """The input went quiet: emit the windows still open, as `oddping scan` does at the end
        of a capture, so their alerts are not held back; they stay open, and evidence arriving
        later re-emits the same alert_id."""
        return BatchResult(alerts=self.engine.emit_pending())

    def forget_partitions(self, partitions: set[int]) -> None:
        """Partitions moved to another worker: their hosts' state now lives there."""
        self.engine.floods.forget_partitions(partitions)
        for partition in partitions:
            self._partition_offset.pop(partition, None)
            self._flood_looked_up.discard(partition)
        gone = {h for h, p in self._partition.items() if p in partitions}
        # restored but not yet published: the new owner restores them again
        self._restored_behaviours = [b for b in self._restored_behaviours if b[0] not in gone]
        for host in gone:
            self.engine.forget(host)
            self._offset.pop(host, None)
            self._partition.pop(host, None)
            self._outbox.pop(host, None)  # not saved: the new owner replays what made it
            self._outbox_only.discard(host)

    def checkpoint(self) -> TableUpdates:
        """The table entries of every host changed since the last checkpoint."""
        updates: TableUpdates = {}
        changes = self.engine.take_changes()
        for host in self._outbox:  # a host whose alerts went out is saved with its outbox
            if host not in changes:
                alive = self.engine.hosts.get(host)
                changes[host] = None if alive is None else alive.to_json()
        for host in self._outbox_only - changes.keys():
            changes[host] = None  # its outbox went out at the last checkpoint
        self._outbox_only.clear()
        for host, state in changes.items():
            partition = self._partition.get(host)
            if partition is None:
                self._outbox.pop(host, None)
                continue
            outbox = self._outbox_of(host) if host in self._outbox else []
            if outbox:
                self._saved_behaviours += [(key, orjson.dumps(u)) for key, u in outbox]
            if state is None and not outbox:
                updates[host] = (partition, None)
                self._offset.pop(host, None)
                self._partition.pop(host, None)
                continue
            entry: dict[str, Any] = {"partition": partition, "offset": self._offset.get(host, -1),
                                     "state": None if state is None else orjson.Fragment(state)}
            if outbox:
                entry["outbox"] = outbox
            if state is None:  # dropped, but its outbox must be saved before it goes out
                self._outbox_only.add(host)
            updates[host] = (partition, orjson.dumps(entry))
        for partition, state in self.engine.floods.take_changes().items():
            updates[flood_key(partition)] = (partition, None if state is None else orjson.dumps(
                {"partition": partition, "offset": self._partition_offset.get(partition, -1),
                 "state": orjson.Fragment(state)}))
        return updates

    def _adopt_flood(self, partition: int, saved: bytes) -> None:
        entry = orjson.loads(saved)
        self.engine.floods.load_partition(partition, entry["state"])
        self._partition_offset[partition] = max(self._partition_offset.get(partition, -1),
                                                entry["offset"])

    def _dead_letter(self, result: BatchResult, message: Any, partition: int, reason: str) -> None:
        self.stats.dead_letters[reason.split(":")[0]] += 1
        kept = Message(partition, message.offset, message.key, message.value)
        result.dead_letters.append(DeadLetter(kept, reason))

"""The flood monitor: per target, echo requests from sources the engine does not track yet.

What it does for the engine (the rule's side, thresholds and limits are in
processors/rules/icmp_flood.py):

* ``absorb(record, ...)`` is asked for an echo request whose source is not tracked.  It counts
  the request for its target in the source's partition (processors/partitions.py).  While the
  target is under flood there it *absorbs* the request: the source gets no host state, the
  findings the request would have raised are counted (folded), and the owner partition's flood
  window takes the request.  Otherwise the engine admits the source as usual.
* When a target's count in a partition reaches the partition's share of ``min_sources`` within
  ``within_s``, the flood starts: the sources admitted on the way (still on probation, one
  packet, nothing emitted) are folded back in, so even the first seconds of a flood raise one
  alert.
* Its windows are emitted like the engine's: at the start, then at most every
  ``update_interval_s`` of capture time while the flood grows, and finally when event time has
  passed their end (sweep) or at the end of input (flush).

Bounded: at most ``max_targets`` targets per partition (the stalest, then the smallest are
dropped, counted), at most the share of ``min_sources`` remembered sources per target, and a
doorkeeper of ``DOORKEEPER`` folded sources per partition and generation (two generations), so
a source seen again and again is tracked from its ``ADMIT_AFTER``-th packet.  The doorkeeper
keeps CRC-32s of addresses: a collision only makes a source tracked a packet early.

Deterministic: each partition's counting, doorkeeper and windows move by that partition's own
capture time; the engine's watermark (other partitions' time) only emits a window early.

Saved: the worker keeps each partition's counting in its table next to the hosts' states
(``take_changes``/``export_partition``/``load_partition``, processors/stream/batch.py), so a
restarted worker or the partition's next owner counts on where the last checkpoint stopped.
"""

from __future__ import annotations

import base64
import math
import zlib
from array import array
from collections import Counter
from itertools import accumulate
from typing import TYPE_CHECKING, Any, Callable

import orjson

from oddping.logs import get_logger
from processors import events
from processors.alerts import Alert, build_alert
from processors.findings import AlertWindow, Finding
from processors.lifecycle import CLOSED, DISMISSED, OPEN
from processors.partitions import partition_of
from processors.rules.icmp_flood import TARGET
from processors.state import TRACKERS, HostState
from processors.state.host import restored_rows

if TYPE_CHECKING:
    from processors.engine import Engine

log = get_logger(__name__)

NS_PER_S = 1_000_000_000
#: new sources of one target in one bucket (within_s) from which a flood may be forming: the
#: first versions of its further new sources' alerts wait within_s (forming).  Low, because
#: each source below it may show an alert before the flood is known; a new host whose target
#: had as many other new sources within_s before (a capture's start, a popular resolver) has
#: its first version that much later.
FORMING_SOURCES = 4
RULE_ID = "icmp_flood"
#: Folded sources remembered per partition and doorkeeper generation.
DOORKEEPER = 65_536
#: While its target is flooded, a source is tracked from its third request on: random spoofed
#: addresses repeat by chance (a million of them drawn from the IPv4 space hold ~130 pairs, but
#: hardly a triple), a real host pinging the victim keeps sending.
ADMIT_AFTER = 3
#: Closed flood window slots remembered per partition (a late request cannot re-open one).
CLOSED_SLOTS = 64
#: The layout of a partition's exported counting (export_partition).
FLOOD_STATE_VERSION = 1
#: A partition's exported counting stays under this (a changelog message: the producer's
#: max_request_size is 1,000,000 bytes).  Two full doorkeeper generations take ~0.5 MB; the
#: rest is targets (1,024 at most), normally a few kB, but an adversary spreading sources over
#: every target could make their admitted-source lists megabytes.
FLOOD_STATE_MAX_BYTES = 900_000


def _packed_door(door: dict[int, int]) -> list[str]:
    """A doorkeeper generation as [CRC-32s, times seen]: the CRCs sorted, as the deltas
    between them (uint32), and the counts (uint8, they stop mattering at ADMIT_AFTER), each
    zlib-compressed and base64-encoded: ~3 bytes a source.  The dict's order does not matter
    (it is only looked up)."""
    crcs = sorted(door)
    deltas = array("I", (b - a for a, b in zip([0, *crcs], crcs)))
    counts = bytes(min(door[c], 255) for c in crcs)
    return [base64.b64encode(zlib.compress(deltas.tobytes())).decode(),
            base64.b64encode(zlib.compress(counts)).decode()]


def _unpacked_door(packed: list[str]) -> dict[int, int]:
    deltas = array("I")
    deltas.frombytes(zlib.decompress(base64.b64decode(packed[0])))
    counts = zlib.decompress(base64.b64decode(packed[1]))
    return dict(zip(accumulate(deltas), counts))


class _Target:
    """One target's counting in one partition.  Most targets are pinged by one source and
    never again: the source admitted on the way is kept as itself while it is the only one
    (a list costs 88 bytes), and the times are the partition's shared int objects
    (_Partition.now): a target costs some 100 bytes, not 270."""

    __slots__ = ("bucket", "count", "recent", "flooding", "second", "in_second")

    def __init__(self, bucket: int) -> None:
        self.bucket = bucket  # start of the current within_s bucket (ns)
        self.count = 0  # new sources in it
        #: sources admitted in it (folded back at the start): (), the one source, then a list
        self.recent: tuple[()] | str | list[str] = ()
        self.flooding = False
        self.second = 0  # current second of capture time, and new sources in it
        self.in_second = 0

    def admitted(self, source: str) -> None:
        recent = self.recent
        if type(recent) is list:
            recent.append(source)
        else:
            self.recent = [recent, source] if recent else source

    def sources(self) -> tuple[str, ...] | list[str]:
        """The sources admitted in the bucket."""
        recent = self.recent
        return (recent,) if type(recent) is str else recent


class _Partition:
    """One records partition's counting: everything in it moves by the partition's own capture
    time (its records arrive in order), never by other partitions', so it is the same however
    partitions are spread over workers or interleaved."""

    __slots__ = ("targets", "windows", "closed", "last_ns", "next_prune_ns", "door_new",
                 "door_old", "bucket", "second")

    def __init__(self) -> None:
        self.targets: dict[str, _Target] = {}
        self.windows: dict[tuple[str, int], _FloodWindow] = {}
        self.closed: list[tuple[str, int]] = []
        self.last_ns = 0  # the partition's latest capture time seen here
        self.next_prune_ns = 0
        #: doorkeeper: folded sources (CRC-32) -> times seen, two generations
        self.door_new: dict[int, int] = {}
        self.door_old: dict[int, int] = {}
        #: the latest bucket start and second its targets were given: one int object each for
        #: all its targets (a capture time's int costs 32 bytes)
        self.bucket = self.second = 0

    def now(self, bucket: int, second: int) -> tuple[int, int]:
        """bucket and second as the partition's shared int objects (equal values)."""
        if bucket == self.bucket:
            bucket = self.bucket
        else:
            self.bucket = bucket
        if second == self.second:
            second = self.second
        else:
            self.second = second
        return bucket, second


class _FloodWindow:
    __slots__ = ("window", "last_emit_ns", "peak", "folded")

    def __init__(self, window: AlertWindow) -> None:
        self.window = window
        self.last_emit_ns: int | None = None
        self.peak = 0
        self.folded: Counter = Counter()


class FloodMonitor:
    def __init__(self, engine: Engine, partitions: int) -> None:
        self.engine = engine
        self.detector = engine.by_rule.get(RULE_ID)
        self.enabled = self.detector is not None
        self.partitions = max(1, partitions)
        #: target -> partitions where it is flooded: a dict lookup tells an ordinary request
        #: it is none of the monitor's business (see folds)
        self.flooded: dict[str, int] = {}
        if not self.enabled:
            return
        t = self.detector.tunables
        self.share = max(2, math.ceil(t.min_sources / self.partitions))
        self.bucket_ns = int(t.within_s * NS_PER_S)
        self.update_ns = int(t.update_interval_s * NS_PER_S)
        self.width_ns = int(t.alert_window_s * NS_PER_S)
        self.max_targets = t.max_targets
        self.by_partition: dict[int, _Partition] = {}
        self._owners: dict[str, int] = {}  # target -> its own partition (raises its alert)
        #: partitions whose counting changed since take_changes (the worker's table), or None
        #: when nobody asks (scan)
        self.changed: set[int] | None = set() if engine.track_changes else None
        #: exports that left the admitted sources out to stay within FLOOD_STATE_MAX_BYTES
        self.trimmed_exports = 0

    # -- the engine's questions ----------------------------------------------------------

    def absorb(self, record: dict[str, Any], handlers, alerts: list[Alert]) -> bool:
        """An echo request from an untracked source: count it; True when the flood took it
        (the engine then admits no host)."""
        if not self.enabled:
            return False
        source = record["initiator_ip"]
        ts = record["ts_ns"]
        partition = partition_of(source, self.partitions)
        part = self.by_partition.get(partition)
        if part is None:
            part = self.by_partition[partition] = _Partition()
        if self.changed is not None:
            self.changed.add(partition)
        if ts > part.last_ns:
            part.last_ns = ts
            if ts >= part.next_prune_ns:
                self._advance(part, alerts)
        bucket, second = part.now(ts - ts % self.bucket_ns, ts // NS_PER_S)
        target = self._target(part, record["dst_ip"], ts, bucket)
        if target.second != second:
            target.second, target.in_second = second, 0
        door = zlib.crc32(source.encode())
        if target.flooding and self._seen(part, door) >= ADMIT_AFTER - 1:
            return False  # seen often enough: track it from now on
        target.count += 1
        target.in_second += 1
        if not target.flooding:
            if target.count < self.share:
                target.admitted(source)
                return False
            self._start(part, partition, target, record["dst_ip"], alerts)
        self._remember(part, door)
        self._fold(part, partition, record, self._folded_findings(record, handlers), alerts)
        return True

    def forming(self, source: str, target_ip: str, ts: int) -> int | None:
        """For a new host's first echo request (source -> target_ip at ts, the source admitted
        on the way): when the target has had ``FORMING_SOURCES`` new sources in its partition's
        current bucket without being flooded yet, within_s after ts, by when the flood should
        have started (the source is then folded) or not; else None.  The engine holds the
        first version of the source's alerts back until then, and asks again when it comes
        due: in the stream, event time is the newest of any partition, and a partition ahead
        (a worker catching up takes one partition's fetch, seconds of capture, at a time) made
        the first versions of a flood's first sources due before their own partition had
        counted the flood (924 versions of 462 alerts, opened then dismissed, on the bench's
        1M-source flood).  So at most FORMING_SOURCES sources per partition and flood show
        before it is known, whatever its size."""
        if not self.enabled:
            return None
        part = self.by_partition.get(partition_of(source, self.partitions))
        target = part.targets.get(target_ip) if part is not None else None
        if target is None or target.flooding or target.count < FORMING_SOURCES:
            return None
        return ts + self.bucket_ns

    def emit_due(self, before_ns: int, alerts: list[Alert]) -> None:
        """The engine's sweep (other partitions' time): emit flood windows that ended before
        before_ns and hold evidence not emitted yet, keeping them open (as the engine does with
        a host's windows); only the partition's own time closes them."""
        if not self.enabled:
            return
        for partition, part in self.by_partition.items():
            for flood in part.windows.values():
                if flood.window.dirty and flood.window.end_ns <= before_ns:
                    self._emit(flood, alerts)
                    self._note(partition)

    def close_due(self, before_ns: int | None, alerts: list[Alert]) -> None:
        """Emit and close the flood windows that ended by before_ns (None: all): the end of
        input, or flush(now_ns)."""
        if not self.enabled:
            return
        for partition, part in self.by_partition.items():
            if self._close(part, before_ns, alerts):
                self._note(partition)

    def _close(self, part: _Partition, before_ns: int | None, alerts: list[Alert]) -> bool:
        """Close the windows that ended by before_ns (None: all); whether any did."""
        closed = False
        for slot, flood in list(part.windows.items()):
            if before_ns is None or flood.window.end_ns <= before_ns:
                del part.windows[slot]
                part.closed.append(slot)
                closed = True
                if flood.window.dirty or flood.window.version:
                    self._emit(flood, alerts, CLOSED)
        del part.closed[:-CLOSED_SLOTS]
        return closed

    def _advance(self, part: _Partition, alerts: list[Alert]) -> None:
        """The partition's time moved on a bucket: close its windows that ended, forget its
        targets quiet for two buckets."""
        now = part.last_ns
        part.next_prune_ns = now + self.bucket_ns
        self._close(part, now, alerts)
        stale = [ip for ip, t in part.targets.items() if t.bucket + 2 * self.bucket_ns <= now]
        for ip in stale:
            self._set_flooding(ip, part.targets.pop(ip), False)

    def emit_pending(self, alerts: list[Alert]) -> None:
        if not self.enabled:
            return
        for partition, part in self.by_partition.items():
            for flood in part.windows.values():
                if flood.window.dirty:
                    self._emit(flood, alerts)
                    self._note(partition)

    def forget_partitions(self, partitions: set[int]) -> None:
        if self.enabled:
            for partition in partitions:
                part = self.by_partition.pop(partition, None)
                for ip, target in part.targets.items() if part is not None else ():
                    self._set_flooding(ip, target, False)
                if self.changed is not None:
                    self.changed.discard(partition)

    # -- the worker's table: a partition's counting, saved at checkpoints ----------------

    def take_changes(self) -> dict[int, bytes | None]:
        """Partitions whose counting changed since the last call: partition -> its exported
        state as JSON (see export_partition), or None when the monitor holds none."""
        if not self.changed:
            return {}
        changes = {p: self.export_partition(p) for p in sorted(self.changed)}
        self.changed.clear()
        return changes

    def export_partition(self, partition: int) -> bytes | None:
        """A partition's counting as JSON: targets and windows in their order (which decides
        what is dropped first and the order alerts come out), the doorkeeper packed
        (_packed_door: a full generation of 65,536 sources in ~250 kB, not ~1 MB of JSON).

        Bounded by FLOOD_STATE_MAX_BYTES (a changelog message): past it, the sources each
        target admitted in its current bucket are left out (a flood that starts after a
        restart then folds back only the sources admitted since), logged and counted
        (``trimmed_exports``)."""
        part = self.by_partition.get(partition) if self.enabled else None
        if part is None:
            return None
        exported = {
            "state_version": FLOOD_STATE_VERSION,
            "targets": [[ip, t.bucket, t.count, list(t.sources()), t.flooding, t.second,
                         t.in_second] for ip, t in part.targets.items()],
            "windows": [[f.window.exported(), f.last_emit_ns, f.peak, f.folded]
                        for f in part.windows.values()],
            "closed": part.closed,
            "last_ns": part.last_ns,
            "next_prune_ns": part.next_prune_ns,
            "door_new": _packed_door(part.door_new),
            "door_old": _packed_door(part.door_old),
        }
        encoded = orjson.dumps(exported)
        if len(encoded) > FLOOD_STATE_MAX_BYTES:
            for target in exported["targets"]:
                target[3] = []
            trimmed = orjson.dumps(exported)
            self.trimmed_exports += 1
            log.warning("flood state over its bound: the sources admitted per target left out",
                        partition=partition, bytes=len(encoded), trimmed_bytes=len(trimmed))
            encoded = trimmed
        return encoded

    def load_partition(self, partition: int, saved: bytes | dict[str, Any]) -> None:
        """Take over a partition's counting as export_partition saved it (a restarted worker,
        or the partition's new owner)."""
        if not self.enabled:
            return
        data = orjson.loads(saved) if isinstance(saved, (bytes, str)) else saved
        if data.get("state_version") != FLOOD_STATE_VERSION:
            raise ValueError(f"flood state version {data.get('state_version')!r} is not "
                             f"{FLOOD_STATE_VERSION}")
        self.forget_partitions({partition})
        part = self.by_partition[partition] = _Partition()
        for ip, bucket, count, sources, flooding, second, in_second in data["targets"]:
            target = part.targets[ip] = _Target(bucket)
            target.count, target.second, target.in_second = count, second, in_second
            target.recent = (() if not sources else sources[0] if len(sources) == 1
                             else sources)
            self._set_flooding(ip, target, flooding)
        for window, last_emit_ns, peak, folded in data["windows"]:
            restored = AlertWindow.from_dict(window)
            restored.evidence = restored_rows(restored.evidence)
            flood = _FloodWindow(restored)
            flood.last_emit_ns, flood.peak, flood.folded = last_emit_ns, peak, Counter(folded)
            part.windows[(restored.host, restored.start_ns)] = flood
        part.closed = [tuple(slot) for slot in data["closed"]]
        part.last_ns, part.next_prune_ns = data["last_ns"], data["next_prune_ns"]
        part.door_new = _unpacked_door(data["door_new"])
        part.door_old = _unpacked_door(data["door_old"])

    def _note(self, partition: int) -> None:
        if self.changed is not None:
            self.changed.add(partition)

    def folds(self, record: dict[str, Any]) -> bool:
        """Whether a tracked host's echo request goes to a target flooded in the host's
        partition: its per-source findings are then the flood's (see fold).  A spoofed source
        can carry a real host's address; a real host pinging the victim now hides in the flood
        only for what the flood's own sources raise."""
        target_ip = record["dst_ip"]
        if target_ip not in self.flooded:
            return False
        part = self.by_partition.get(partition_of(record["initiator_ip"], self.partitions))
        target = part.targets.get(target_ip) if part is not None else None
        return target is not None and target.flooding

    def fold(self, finding: Finding) -> bool:
        """Count a tracked host's per-source finding into the flood (folds said so); False for
        the flood rule's own per-source finding, which the engine keeps."""
        if finding.rule_id == RULE_ID:
            return False
        self.engine.stats.findings_folded[finding.rule_id] += 1
        self.engine.stats.tracked_findings_folded += 1
        return True

    def _set_flooding(self, ip: str, target: _Target, value: bool) -> None:
        if target.flooding == value:
            return
        target.flooding = value
        count = self.flooded.get(ip, 0) + (1 if value else -1)
        if count > 0:
            self.flooded[ip] = count
        else:
            self.flooded.pop(ip, None)

    # -- inside --------------------------------------------------------------------------

    def _target(self, part: _Partition, ip: str, ts: int, bucket: int) -> _Target:
        target = part.targets.get(ip)
        if target is None:
            if len(part.targets) >= self.max_targets:
                self._drop_targets(part, bucket)
            target = part.targets[ip] = _Target(bucket)
        elif target.bucket != bucket and ts > target.bucket:
            # A new bucket: a flood goes on while the last bucket reached the share.
            self._set_flooding(ip, target, target.flooding and target.count >= self.share
                               and bucket == target.bucket + self.bucket_ns)
            target.bucket, target.count = bucket, 0
            target.recent = ()
        return target

    def _drop_targets(self, part: _Partition, bucket: int) -> None:
        """Make room: targets of older buckets first, then the half with the fewest sources."""
        targets = part.targets
        stale = [ip for ip, t in targets.items() if t.bucket < bucket and not t.flooding]
        if len(stale) < len(targets) // 2:
            by_count = sorted(targets, key=lambda ip: (targets[ip].flooding, targets[ip].count))
            stale = by_count[: len(targets) // 2]
        for ip in stale:
            self._set_flooding(ip, targets.pop(ip), False)
        self.engine.stats.flood_targets_dropped += len(stale)

    @staticmethod
    def _seen(part: _Partition, door: int) -> int:
        return part.door_new.get(door) or part.door_old.get(door, 0)

    def _remember(self, part: _Partition, door: int) -> None:
        seen = self._seen(part, door)
        if door not in part.door_new and len(part.door_new) >= DOORKEEPER:
            part.door_old, part.door_new = part.door_new, {}
        part.door_new[door] = seen + 1

    def _folded_findings(self, record: dict[str, Any], handlers) -> Counter:
        """The findings the request would have raised for a new host of its own: run on a
        host state that is thrown away, counted."""
        host = HostState(record["initiator_ip"], record["ip_version"], record["ts_ns"],
                         record["ts_ns"])
        context = TRACKERS[events.ECHO_REQUEST](host, record)
        found: Counter = Counter()
        for handler in handlers:
            for finding in handler(host, record, context):
                found[finding.rule_id] += 1
        return found

    def _start(self, part: _Partition, partition: int, target: _Target, target_ip: str,
               alerts: list[Alert]) -> None:
        """The share is reached: the target is flooded.  The sources admitted on the way that
        are still one-packet probationary hosts are folded back in.  One whose alert already had
        an open version out (processors/lifecycle.py) gets a last, dismissed version saying so:
        whether that happened depends on how records interleaved, so the folding must not, or
        the final alerts would differ between scan and stream."""
        self._set_flooding(target_ip, target, True)
        engine = self.engine
        for source in target.sources():
            host = engine.hosts.get(source)
            if host is None or not engine.admission.is_probationary(source):
                continue
            if host.first_ns != host.last_ns:
                continue
            rings = list(host.requests.items())
            if len(rings) != 1 or len(rings[0][1]) != 1:
                continue
            icmp_id, (seen,) = rings[0]
            found: Counter = Counter()
            for window in host.windows.values():
                found[window.rule_id] += window.count
                # never emitted now: what it took of the alert budget goes back
                engine.budget.refund(source, window.slot, window.first_ns, not window.refused)
                if window.version:
                    engine.stats.dismissed[f"{window.rule_id}:folded_into_flood"] += 1
                    engine._emit(host, window, alerts, DISMISSED, engine.watermark_ns)
            self._forget_host(source)
            self._remember(part, zlib.crc32(source.encode()))
            record = seen.as_record(source, icmp_id, host.ip_version)
            self._fold(part, partition, record, found, alerts)
        target.recent = ()
        engine.readmit_refused(partition)

    def _forget_host(self, ip: str) -> None:
        """A folded source's host state goes, emitting nothing (its findings are the flood's)."""
        engine = self.engine
        del engine.hosts[ip]
        engine.admission.forget(ip)
        engine.stats.hosts_folded += 1
        engine.stats.hosts_tracked = len(engine.hosts)
        if engine.track_changes:
            engine._changed[ip] = False

    def _fold(self, part: _Partition, partition: int, record: dict[str, Any], found: Counter,
              alerts: list[Alert]) -> None:
        stats = self.engine.stats
        stats.flood_absorbed += 1
        for rule, n in found.items():
            stats.findings_folded[rule] += n
        target_ip = record["dst_ip"]
        owner = self._owners.get(target_ip)
        if owner is None:  # murmur2 costs 4 µs: once per target, not per request
            if len(self._owners) >= self.max_targets:
                self._owners.clear()
            owner = self._owners[target_ip] = partition_of(target_ip, self.partitions)
        if owner != partition:
            return  # another partition raises this target's alert
        ts = record["ts_ns"]
        start = ts - ts % self.width_ns
        slot = (target_ip, start)
        flood = part.windows.get(slot)
        if flood is None:
            if slot in part.closed:
                stats.late_findings[RULE_ID] += 1
                return
            window = AlertWindow(RULE_ID, target_ip, TARGET, start, start + self.width_ns,
                                 record["ip_version"], self.detector.tunables.evidence_limit)
            flood = part.windows[slot] = _FloodWindow(window)
        window = flood.window
        window.add(Finding(RULE_ID, record, TARGET), record["initiator_ip"])
        flood.folded.update(found)
        target = part.targets.get(target_ip)
        if target is not None and target.in_second > flood.peak:
            flood.peak = target.in_second
        if flood.last_emit_ns is None or ts - flood.last_emit_ns >= self.update_ns:
            flood.last_emit_ns = ts
            self._emit(flood, alerts)

    def _emit(self, flood: _FloodWindow, alerts: list[Alert], status: str = OPEN) -> None:
        """A version of the flood's alert (processors/lifecycle.py): open while the flood's
        window is, closed when the partition's time closes it."""
        window = flood.window
        facts = window.facts
        facts["sources"] = window.count
        facts["partitions"] = self.partitions
        facts["estimated_sources"] = window.count * self.partitions
        facts["max_sources_per_s"] = flood.peak
        facts["folded_findings"] = sum(flood.folded.values())
        for rule, n in sorted(flood.folded.items()):
            facts[f"folded_{rule}"] = n
        window.dirty = False
        window.version += 1
        window.version_ns = max(window.last_ns, self.engine.watermark_ns)
        detector = self.detector
        doc = build_alert(window, detector.metadata, detector.severity, detector.summary(window),
                          status)
        alerts.append(Alert(doc))
        self.engine.stats.versions[status] += 1
        if window.emitted:
            self.engine.stats.alerts_updated += 1
        else:
            self.engine.stats.alerts_emitted += 1
        window.emitted = True

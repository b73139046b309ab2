"""The detection engine: records in, alerts out, per-host state in between.

One engine serves both runners.  ``oddping scan`` feeds it a capture's records and calls
``flush()`` at the end; the faust worker feeds it a partition's records and keeps each host's
state in a table (``state_for``/``load_state``/``take_changes``).  Nothing here reads the clock:
every window, expiry and rate runs on the records' capture time (``ts_ns``).

Per record::

    validate -> host state (admit, expire, evict)
             -> replies the host's time has passed by the late bound: unanswered now
             -> another sensor's copy of a packet already seen? evidence only, stop here
             -> the record's own sensor's TTL profile -> tracker (shared facts)
             -> a request: the replies processed before it that it answers pair now
             -> the event's handlers that can fire on its payload class (findings)
             -> a reply with no request: it waits for one (processors/state/pairing.py)
             -> suppress -> alert window -> close windows event time has passed -> alerts

Alert lifecycle (processors/lifecycle.py).  A window's alert comes out as versions of one
alert_id: version 1 ``alert_first_delay_s`` of event time after the finding that opened the
window, open updates at most once per ``alert_update_interval_s`` while evidence grows (a
severity rise at once), and a final ``closed`` version when the window closes.  Event time for
the open versions is the watermark (the newest capture time over all hosts), checked on every
record against the earliest due time, so other hosts' traffic reports a host that fell silent.

Determinism.  A host's alerts depend only on that host's records and their order: windows are
aligned to the epoch, alert ids are derived from (rule, host, key, window start), and a window is
closed by the host's own time (its records passing the window's end by ``sensor_late_bound_s``,
its idle expiry, eviction, or the end of input), never by the watermark: another sensor's
records may have advanced that time, and a sensor catching up within the bound still joins the
window.  Several sensors' records are one truth: processors/state/vantage.py (TTL profiles per
sensor) and processors/state/dedup.py (copies of one packet counted once).  Other hosts' time only decides *when* open
versions come out, so the final version's content (counts, ranges, evidence) is the same however
hosts are interleaved or split over workers; only its ``version`` number and ``version_time``
may differ.  In a stream whose input stops (a replayed capture), windows still open stay open:
the worker emits their evidence as open versions once the input has been quiet for
``alert_idle_emit_s`` (wall clock), and those carry the content scan's closed versions have.
They are closed when event time moves on (the host's next records, or its idle expiry once the
watermark is ``host_idle_expiry_s`` past its last record).
Reclaiming an idle host also needs the host to have been idle in processing order since the
last sweep, so a host whose records arrive late but in a burst is never reclaimed mid-burst.
Only evicting a host to respect ``max_tracked_hosts`` can change what a host's later records
find; it is counted.
"""

from __future__ import annotations

import math
from collections import Counter, OrderedDict
from dataclasses import dataclass, field
from itertools import product
from operator import itemgetter
from typing import Any, Iterable

from oddping.config import Settings
from oddping.logs import get_logger
from processors import events
from processors.alerts import Alert, build_alert
from processors.budget import AlertBudget
from processors.campaign.fingerprint import BEHAVIOUR_RULES, annotate
from processors.findings import AlertWindow, Finding, peer_of, window_slot
from processors.flood import FloodMonitor
from processors.lifecycle import CLOSED, DISMISSED, OPEN, Schedule
from processors.networks import InternalNetworks
from processors.payloads import PAYLOAD_CLASSES
from processors.rules import RULE_IDS, build_detectors, load_rule_settings
from processors.ruleskit.base import Detector, Handler
from processors.ruleskit.ttlcheck import implied_initial_ttl
from processors.state import ANNOUNCES_HOP_DISTANCE, TRACKERS, HostState, dedup, pairing, vantage
from processors.state.admission import Admission
from processors.state.once import SeenOnce, seen_once
from processors.suppress import Suppressions

log = get_logger(__name__)

NS_PER_S = 1_000_000_000
#: Keys one rule may open per host and window before further keys share the "*" window.
KEYS_PER_RULE = 8
#: Recently closed window slots remembered per host, so a late finding cannot re-open one.
CLOSED_SLOTS = 32

_NULLABLE_INT = (int, type(None))
#: The fields the engine and rules read, with their types: a cheap subset of the record schema
#: (full JSON Schema validation costs more than all the rules together).
_COMMON_FIELDS: tuple[tuple[str, tuple[type, ...]], ...] = (
    ("ts_ns", (int,)),
    ("initiator_ip", (str,)),
    ("src_ip", (str,)),
    ("dst_ip", (str,)),
    ("sensor_id", (str,)),
    ("ip_version", (int,)),
    ("ttl", (int,)),
)
_OBSERVATION_FIELDS = _COMMON_FIELDS + (
    ("initial_ttl_guess", (int,)),
    ("hop_distance_guess", (int,)),
)
_ICMP_FIELDS = _COMMON_FIELDS + (
    ("icmp_type", (int,)),
    ("icmp_code", (int,)),
    ("icmp_id", _NULLABLE_INT),
    ("icmp_seq", _NULLABLE_INT),
    ("icmp_checksum_ok", (bool, type(None))),
    ("payload_len", (int,)),
    ("payload_class", (str,)),
    ("payload_sha256", (str,)),
    ("community_id", (str,)),
    ("ip_total_len", (int,)),
    ("fragmented", (bool,)),
)


class _Shape:
    """Checks a record's field types in one C-level step: the tuple of its values' types must
    be one of the allowed combinations.  Only a record that fails is looked at field by field,
    to name the field."""

    def __init__(self, fields: tuple[tuple[str, tuple[type, ...]], ...]) -> None:
        self.fields = fields
        self.values = itemgetter(*(name for name, _ in fields))
        self.allowed = frozenset(product(*(types for _, types in fields)))
        #: the combination nearly every record has (no nulls): comparing with it is cheaper
        #: than hashing the tuple to look it up in `allowed`
        self.usual = tuple(types[0] for _, types in fields)

    def first_bad_field(self, record: dict[str, Any]) -> str | None:
        try:
            types = tuple(map(type, self.values(record)))
            if types == self.usual or types in self.allowed:
                return None
        except KeyError:
            pass
        for name, types in self.fields:
            if type(record.get(name)) not in types:
                return name
        return None


_FRAGMENT_ANOMALY_FIELDS = _COMMON_FIELDS + (
    ("anomaly", (str,)),
    ("fragments", (int,)),
    ("fragment_len", (int,)),
)
#: kind -> the shape of that kind of record
_SHAPES = {
    "icmp": _Shape(_ICMP_FIELDS),
    "host_observation": _Shape(_OBSERVATION_FIELDS),
    "fragment_anomaly": _Shape(_FRAGMENT_ANOMALY_FIELDS),
}
#: record kinds other than icmp -> their event
_KIND_EVENTS = {
    "host_observation": events.HOST_OBSERVATION,
    "fragment_anomaly": events.FRAGMENT_ANOMALY,
}
_ECHO = frozenset({events.ECHO_REQUEST, events.ECHO_REPLY})
_ICMP_EVENT_NAMES = frozenset(events.ICMP_EVENTS.values())
#: where a remembered packet keeps its first sensor, its copies and its windows (dedup.py)
_SENSOR, _COPIES, _SLOTS = dedup.SENSOR, dedup.COPIES, dedup.SLOTS
#: an ICMP record's route: its event, whether that is an echo, the event's handlers by class
_IcmpRoute = tuple[str, bool, dict[str, tuple[Handler, ...]]]


@dataclass
class EngineStats:
    """Counters a person can read (the summary line, /metrics).  Nothing is lost silently.

    Two are counted for every record and every finding: records by event and findings by
    rule.  They are kept as plain dicts of ints (``event_counts``, ``rule_counts``: an item
    update costs half a Counter's) and read as the Counters ``records_by_event`` and
    ``findings``.
    """

    records_seen: int = 0
    #: event -> records (see records_by_event)
    event_counts: dict[str, int] = field(default_factory=dict)
    #: ICMP messages no rule handles (destination unreachable, redirects ...)
    records_other_icmp: int = 0
    invalid_records: int = 0
    invalid_reasons: Counter = field(default_factory=Counter)
    #: the field that made the latest invalid record invalid (for a dead-letter reason)
    last_invalid_reason: str | None = None
    #: records older than their host's latest (processed normally, counted)
    out_of_order: int = 0
    #: rule id -> findings, suppressed ones included (see findings)
    rule_counts: dict[str, int] = field(default_factory=dict)
    suppressed: Counter = field(default_factory=Counter)
    #: findings that only an expired suppression matched (so they went through)
    suppression_expired: Counter = field(default_factory=Counter)
    #: windows dropped at close, by "rule:reason" (e.g. ttl_deviation:traceroute)
    dismissed: Counter = field(default_factory=Counter)
    #: findings for a window already closed (a record far out of order), by rule
    late_findings: Counter = field(default_factory=Counter)
    alerts_emitted: int = 0
    #: emissions of an alert_id already emitted (later versions)
    alerts_updated: int = 0
    #: versions emitted, by status (open, closed, dismissed)
    versions: Counter = field(default_factory=Counter)
    #: updates of open alerts that waited for alert_update_interval_s
    updates_held: int = 0
    hosts_tracked: int = 0
    hosts_expired: int = 0
    hosts_evicted: int = 0
    #: other sensors' copies of packets already seen (counted once, kept as evidence), by
    #: the copy's sensor (processors/state/dedup.py)
    copies: Counter = field(default_factory=Counter)
    #: copies older than their host's full copy memory: possibly counted again, by sensor
    copies_unrecognised: Counter = field(default_factory=Counter)
    #: a sensor's second capture of one packet (same TTL and IP id within duplicate_window_s:
    #: a SPAN of both directions), counted once, by sensor
    same_sensor_duplicates: Counter = field(default_factory=Counter)
    #: replies paired with a request processed after them (another sensor's, late)
    late_pairings: int = 0
    #: replies judged unanswered: no request came within the late bound (processors/state/
    #: pairing.py)
    replies_unanswered: int = 0
    #: records more than sensor_late_bound_s behind their host's newest record, by sensor
    #: (processed all the same; their findings may come after their windows closed)
    late_records: Counter = field(default_factory=Counter)
    #: evictions by admission tier: "probation" (new hosts) or "protected" (see admission.py)
    hosts_evicted_by_tier: Counter = field(default_factory=Counter)
    #: echo requests from new sources folded into a flood (no host state; processors/flood.py)
    flood_absorbed: int = 0
    #: hosts admitted before their flood was recognised, folded back into it
    hosts_folded: int = 0
    #: per-source findings folded into floods instead of alerted, by rule
    findings_folded: Counter = field(default_factory=Counter)
    #: of them, findings of tracked hosts' requests to a flooded target
    tracked_findings_folded: int = 0
    #: targets the flood monitor stopped counting to stay within max_targets
    flood_targets_dropped: int = 0
    #: alert emissions dropped by the alert budget (processors/budget.py)
    alerts_over_budget: int = 0

    @property
    def records_by_event(self) -> Counter:
        return Counter(self.event_counts)

    @property
    def findings(self) -> Counter:
        return Counter(self.rule_counts)

    def as_dict(self) -> dict[str, Any]:
        shown = {_SHOWN_AS.get(name, name): value for name, value in self.__dict__.items()}
        return {
            name: dict(sorted(value.items())) if isinstance(value, dict) else value
            for name, value in shown.items()
        }


#: EngineStats fields shown by as_dict (and read) under another name
_SHOWN_AS = {"event_counts": "records_by_event", "rule_counts": "findings"}


class Engine:
    def __init__(
        self,
        settings: Settings | None = None,
        *,
        lateness_s: float = 60.0,
        sweep_interval_s: float = 10.0,
        track_changes: bool = False,
        open_versions: bool = True,
    ) -> None:
        """
        lateness_s: how far behind the newest capture time (over all hosts) a host's records
            may arrive; idle hosts are reclaimed only beyond it.
        sweep_interval_s: capture time between sweeps over all hosts.
        track_changes: remember which hosts changed, for take_changes() (the worker's table).
        open_versions: emit open versions as the lifecycle schedules them; False gives only
            the final (closed) versions, the same content, for a runner that prints only those
            (``oddping scan`` without --all-versions: building the documents of versions nobody
            reads made it take a third longer on the busy capture, 1,000 hosts x 5 minutes).
        """
        settings = settings if settings is not None else Settings()
        self.tunables = load_rule_settings(settings.rules)
        self.detectors: list[Detector] = build_detectors(
            self.tunables, InternalNetworks(settings.networks.internal)
        )
        self.by_rule: dict[str, Detector] = {d.rule_id: d for d in self.detectors}
        self.window_ns = {
            d.rule_id: int(d.tunables.alert_window_s * NS_PER_S) for d in self.detectors
        }
        # event -> (detector, handler) for each detector subscribed to it, in registry order
        subscribed: dict[str, list[tuple[Detector, Handler]]] = {e: [] for e in events.ALL_EVENTS}
        for detector in self.detectors:
            for event, handler in detector.handlers().items():
                subscribed[event].append((detector, handler))
        self._subscribed = subscribed
        # event -> the handlers subscribed to it: the dispatch table
        self.handlers: dict[str, tuple[Handler, ...]] = {
            event: tuple(handler for _, handler in pairs) for event, pairs in subscribed.items()
        }
        # ICMP event -> payload class -> the handlers that can fire on it (Detector.fires_on):
        # an ordinary ping skips the rules that only look at odd payloads
        self.handlers_by_class: dict[str, dict[str, tuple[Handler, ...]]] = {
            event: {name: self._handlers_for_class(event, name) for name in PAYLOAD_CLASSES}
            for event in set(events.ICMP_EVENTS.values())
        }
        # (ip_version, icmp_type) -> (event, whether it is an echo, its handlers by class):
        # one lookup routes an ICMP record
        self._icmp_routes: dict[tuple[int, int], _IcmpRoute] = {
            key: (event, event in _ECHO, self.handlers_by_class[event])
            for key, event in events.ICMP_EVENTS.items()
        }
        self.suppressions = Suppressions(settings.suppressions, RULE_IDS)
        #: the campaign stage's settings, when it runs (host alerts then carry behaviour_id
        #: and campaign_id: processors/campaign/fingerprint.py)
        self.campaigns = settings.campaigns if settings.campaigns.enabled else None
        self.idle_ns = int(settings.processor.host_idle_expiry_s * NS_PER_S)
        self.max_hosts = settings.processor.max_tracked_hosts
        self.lateness_ns = int(lateness_s * NS_PER_S)
        processor = settings.processor
        self.late_bound_ns = int(processor.sensor_late_bound_s * NS_PER_S)
        self.copy_window_ns = int(processor.copy_window_s * NS_PER_S)
        self.copy_span_ns = max(self.late_bound_ns, self.copy_window_ns)
        self.duplicate_ns = int(processor.duplicate_window_s * NS_PER_S)
        #: while one sensor is seen, its latest ICMP records (no per-host memory until then)
        self.recent = dedup.Recent()
        #: the first sensor seen, and whether another has been seen since (then findings are
        #: noted for their packets, to credit copies to their windows: processors/state/dedup.py)
        self._first_sensor: str | None = None
        self._several_sensors = processor.several_sensors
        self.clocks = dedup.SensorClocks(int(processor.clock_offset_warn_s * NS_PER_S),
                                         _warn_clock)
        proc = processor
        self.schedule = Schedule(proc.alert_first_delay_s, proc.alert_update_interval_s)
        self.open_versions = open_versions
        self.sweep_ns = int(sweep_interval_s * NS_PER_S)
        self.track_changes = track_changes
        #: least recently active first; a host seen once is a SeenOnce (processors/state/once.py)
        self.hosts: OrderedDict[str, HostState | SeenOnce] = OrderedDict()
        self.admission = Admission(self.max_hosts)
        self.stats = EngineStats()
        self.watermark_ns = 0
        self._next_sweep_ns: int | None = None
        self._touch = 0
        self._touch_at_last_sweep = 0
        # A lower bound on the tracked hosts' last_ns, so that a sweep with nothing to expire
        # need not visit every host (see _sweep).  Only admitting or loading a host can lower
        # it; each walk makes it exact.  (Open versions are due by the schedule's heap.)
        self._least_last_ns: float = math.inf
        self._changed: dict[str, bool] = {}
        self.floods = FloodMonitor(self, settings.kafka.partitions)
        self.budget = AlertBudget(
            settings.processor.alert_budget_per_minute, settings.kafka.partitions, self.stats,
            lambda ip: ip in self.hosts and not self.admission.is_probationary(ip),
        )

    # -- the hot path --------------------------------------------------------------------

    def process(self, record: dict[str, Any]) -> list[Alert]:
        """Feed one record (in per-host order); returns alerts whose windows closed."""
        self.stats.records_seen += 1
        routed = self._route(record)
        if routed is None:
            return []
        event, handlers = routed
        alerts: list[Alert] = []
        host_ip = record["initiator_ip"]
        ts = record["ts_ns"]
        host = self.hosts.get(host_ip)
        first = host is None
        if first:
            if event == events.ECHO_REQUEST and self.floods.absorb(record, handlers, alerts):
                return self._advance(ts, alerts)
            host = self._admit(host_ip, record, alerts)
        else:
            if type(host) is SeenOnce:  # its second record: the tables again
                host = self.hosts[host_ip] = host.thaw()
            self.hosts.move_to_end(host_ip)
        if ts - host.last_ns > self.idle_ns:  # the host's own silence: start afresh
            self._expire(host, alerts)
            host = self._admit(host_ip, record, alerts)
            first = True
        self._touch += 1
        host.touched = self._touch
        if ts > host.last_ns:
            host.last_ns = ts
            waiting = host.scratch.get(pairing.SCRATCH)
            if waiting and waiting[0][0] < ts - self.late_bound_ns:
                # no request can come for these replies within the late bound any more
                self._judge_unanswered(host, pairing.unanswered(host, ts - self.late_bound_ns))
        elif ts < host.last_ns:
            self.stats.out_of_order += 1
            if host.last_ns - ts > self.late_bound_ns:
                self.stats.late_records[record["sensor_id"]] += 1

        # only ICMP packets have copies to recognise (a SYN observation or a fragment anomaly
        # carries no ICMP identity)
        copy = self._copy_of(host, record) if event in _ICMP_EVENT_NAMES else None
        if copy is None and not first:
            # a packet counts once towards promotion, however many sensors captured it (a
            # new or restarted host counted its first in _admit)
            self.admission.seen(host_ip, record)
        if copy is not None:  # another sensor's copy: one packet, kept as evidence only
            handlers = ()
            context = None
            folding = False
        else:
            vantage.use_sensor(host, record)
            context = TRACKERS[event](host, record)
            if event == events.ECHO_REQUEST and pairing.SCRATCH in host.scratch:
                self._pair_late(host, record)  # before the request's rules, as on time
            # a request to a flooded target: its per-source findings are the flood's (flood.py)
            folding = event == events.ECHO_REQUEST and self.floods.folds(record)
        for handler in handlers:
            for finding in handler(host, record, context):
                if folding and self.floods.fold(finding):
                    continue
                self._add(host, finding)
        if copy is None and context is None and event == events.ECHO_REPLY:
            # no request yet: it waits for one (another sensor's may come late)
            over = pairing.remember(host, record, self._several_sensors)
            if over:
                self._judge_unanswered(host, over)
        if context is True and event in ANNOUNCES_HOP_DISTANCE:
            for handler in self.handlers[events.HOP_DISTANCE_LEARNED]:
                for finding in handler(host, record, None):
                    self._add(host, finding)

        # a host's windows close late_bound after their end in its own time, which another
        # sensor's records may have advanced: a late sensor's records still join them
        closing = host.last_ns - self.late_bound_ns
        if host.next_window_end is not None and host.next_window_end <= closing:
            self._close_due(host, closing, alerts)
        if self.track_changes:
            self._changed[host_ip] = True
        if first:  # a host seen once so far is kept in one object (processors/state/once.py)
            once = seen_once(host)
            if once is not None and self.hosts.get(host_ip) is host:
                self.hosts[host_ip] = once
        return self._advance(ts, alerts)

    def _advance(self, ts: int, alerts: list[Alert]) -> list[Alert]:
        """Event time after a record (one a flood took too, processors/flood.py): the sweep
        when due, and the open versions the watermark made due."""
        if ts > self.watermark_ns:
            self.watermark_ns = ts
            if self._next_sweep_ns is None:
                self._next_sweep_ns = ts + self.sweep_ns
            elif ts >= self._next_sweep_ns:
                self._sweep(alerts)
        due = self.schedule.heap
        if due and due[0][0] <= self.watermark_ns:
            self._emit_due(alerts)
        return alerts

    def _copy_of(self, host: HostState, record: dict[str, Any]) -> list | dict | None:
        """The packet record is another sensor's copy of (credited to it) or its own sensor's
        second capture of, or None."""
        if not self._several_sensors:
            sensor = record["sensor_id"]
            if sensor == self._first_sensor or self._first_sensor is None:
                # one sensor so far: the engine-wide ring, an append (dedup.Recent)
                if self._first_sensor is None:
                    self._first_sensor = sensor
                earlier = self.recent.add(record, self.duplicate_ns)
                if earlier is not None:
                    self.stats.same_sensor_duplicates[sensor] += 1
                return earlier
            self._several_sensors = True
            self.recent.hand_over(self.hosts, self.copy_span_ns)
        entry = dedup.copy_of(host, record, self.copy_window_ns,
                              self.copy_span_ns if self._several_sensors else 0,
                              self.duplicate_ns)
        if entry is None:
            # only a record behind its host's time can be a copy the memory no longer reaches
            ts = record["ts_ns"]
            if ts < host.last_ns and (ts <= self.recent.forgotten_ns
                                      or dedup.older_than_memory(host, ts)):
                self.stats.copies_unrecognised[record["sensor_id"]] += 1
            return None
        sensor = record["sensor_id"]
        if entry[_SENSOR] == sensor:  # the same capture twice
            self.stats.same_sensor_duplicates[sensor] += 1
            return entry
        self.stats.copies[sensor] += 1
        copies = entry[_COPIES]
        if copies:
            latest = copies[-1]
            if latest[0] == sensor:  # not past COPIES_PER_PACKET: credit it
                if entry[_SLOTS] != dedup.NO_WINDOWS:  # else it went to no window
                    dedup.credit_copy(host, entry)
                self.clocks.observe(entry[_SENSOR], sensor, latest[2])
        if record["src_ip"] == host.ip:  # this sensor sees the host's own outbound traffic
            host.saw_outbound(sensor, record["ts_ns"])
        return entry

    def _pair_late(self, host: HostState, request: dict[str, Any]) -> None:
        """Replies processed before this request (another sensor's, late) pair with it now:
        event reply_paired_late (processors/state/pairing.py)."""
        replies = pairing.answered(host, request, self.late_bound_ns)
        if not replies:
            return
        for reply in replies:
            seen = host.find_request(reply["icmp_id"], reply["icmp_seq"], reply["src_ip"])
            if seen is None:
                continue
            self.stats.late_pairings += 1
            vantage.use_sensor(host, reply)
            for detector, handler in self._subscribed[events.REPLY_PAIRED_LATE]:
                if detector.fires_on(reply["payload_class"]):
                    for finding in handler(host, reply, seen):
                        self._add(host, finding)
        vantage.use_sensor(host, request)

    def _judge_unanswered(self, host: HostState, rows: list[list[Any]]) -> None:
        """Replies no request answered within the late bound (or that no longer fit the
        memory, or whose host's windows all close): event reply_unanswered, in capture-time
        order (processors/state/pairing.py)."""
        subscribed = self._subscribed[events.REPLY_UNANSWERED]
        self.stats.replies_unanswered += len(rows)
        for row in rows:
            reply = pairing.record_of(row)
            outbound = pairing.last_outbound(row)
            vantage.use_sensor(host, reply)
            for detector, handler in subscribed:
                if detector.fires_on(reply["payload_class"]):
                    for finding in handler(host, reply, outbound):
                        self._add(host, finding)

    def _route(self, record: Any) -> tuple[str, tuple[Handler, ...]] | None:
        """The record's event and the handlers to call for it, or None (counted) when the
        record is invalid or no rule's business."""
        kind = record.get("kind") if isinstance(record, dict) else None
        shape = _SHAPES.get(kind)
        if shape is None:
            return self._invalid("kind")
        bad = shape.first_bad_field(record)
        if bad is not None:
            return self._invalid(bad)
        if kind != "icmp":
            event = _KIND_EVENTS[kind]
            handlers = self.handlers[event]
        else:
            route = self._icmp_routes.get((record["ip_version"], record["icmp_type"]))
            if route is None:
                self.stats.records_other_icmp += 1
                return None
            event, is_echo, by_class = route
            if is_echo and (record["icmp_id"] is None or record["icmp_seq"] is None):
                return self._invalid("icmp_id")
            payload_class = record["payload_class"]
            handlers = by_class.get(payload_class)
            if handlers is None:  # a class newer than processors/payloads.py: ask each time
                handlers = self._handlers_for_class(event, payload_class)
        counts = self.stats.event_counts
        counts[event] = counts.get(event, 0) + 1
        return event, handlers

    def _handlers_for_class(self, event: str, payload_class: str) -> tuple[Handler, ...]:
        return tuple(
            handler
            for detector, handler in self._subscribed[event]
            if detector.fires_on(payload_class)
        )

    def _invalid(self, field_name: str) -> None:
        self.stats.invalid_records += 1
        self.stats.invalid_reasons[field_name] += 1
        self.stats.last_invalid_reason = field_name
        return None

    def _add(self, host: HostState, finding: Finding) -> None:
        """Suppress, or fold the finding into its alert window."""
        record = finding.record
        rule_id = finding.rule_id
        peer = peer_of(host.ip, record)
        ts = record["ts_ns"]
        counts = self.stats.rule_counts
        counts[rule_id] = counts.get(rule_id, 0) + 1
        if self.suppressions.entries:
            ttl = implied = None
            if self.suppressions.by_ttl:  # initial_ttl entries (campaign suppressions)
                ttl = record["ttl"]
                implied = implied_initial_ttl(host, ttl, record.get("sensor_id"))
            verdict = self.suppressions.check(
                rule_id, host.ip, peer, record["payload_class"], ts, ttl, implied)
            if verdict is not None:
                reason, expired = verdict
                if not expired:
                    self.stats.suppressed[reason] += 1
                    return
                self.stats.suppression_expired[reason] += 1
        width = self.window_ns[rule_id]
        start = ts - ts % width
        window = host.windows.get((rule_id, finding.key, start))
        if window is None:
            window = self._open_window(host, self.by_rule[rule_id], finding.key, start, width)
            if window is None:
                self.stats.late_findings[rule_id] += 1
                return
            if window.count == 0 and not self.budget.admit(host.ip, ts, window.facts,
                                                           window.slot):
                window.refused = True
        window.add(finding, peer)
        if self._several_sensors:
            dedup.note_finding(host, window, record)
        if window.due_ns is None and self.open_versions:
            # a new host's first request to a target a flood may be forming at: its alert's
            # first version waits for the flood monitor's verdict (processors/flood.py)
            not_before = (self.floods.forming(host.ip, record["dst_ip"], ts)
                          if window.version == 0 and record["kind"] == "icmp"
                          and record["src_ip"] == host.ip and self._one_packet_newcomer(host)
                          else None)
            if self.schedule.next_version(host.ip, window, ts, not_before):
                self.stats.updates_held += 1
        if finding.severity is not None:
            self.schedule.raise_severity(
                host.ip, window, finding.severity, self.by_rule[rule_id].severity, ts)

    def _open_window(
        self, host: HostState, detector: Detector, key: str, start: int, width: int
    ) -> AlertWindow | None:
        rule_id = detector.rule_id
        if key:
            keys = sum(
                1
                for w in host.windows.values()
                if w.rule_id == rule_id and w.start_ns == start and w.key
            )
            if keys >= KEYS_PER_RULE:
                key = "*"  # further keys share one overflow window: bounded, not lost
                existing = host.windows.get(window_slot(rule_id, key, start))
                if existing is not None:
                    return existing
        slot = window_slot(rule_id, key, start)
        if slot in host.closed_slots:
            return None
        window = AlertWindow(
            rule_id, host.ip, key, start, start + width, host.ip_version,
            detector.tunables.evidence_limit,
        )
        host.keep_window(slot, window)
        if host.next_window_end is None or window.end_ns < host.next_window_end:
            host.next_window_end = window.end_ns
        return window

    # -- closing windows -----------------------------------------------------------------

    def _close_due(self, host: HostState, now_ns: int | None, alerts: list[Alert]) -> None:
        """Close the windows whose end the host's own time (now_ns) has passed, or all of them
        (now_ns=None): their final (closed) version, emitted even without new evidence when an
        open version went out before."""
        if type(host) is SeenOnce:  # no windows; replies waiting need the HostState
            if not host.holds(pairing.SCRATCH):
                return
            thawed = host.thaw()
            if self.hosts.get(host.ip) is host:
                self.hosts[host.ip] = thawed
            host = thawed
        # the replies waiting for a request in these windows are unanswered now
        waiting = host.scratch.get(pairing.SCRATCH)
        if waiting and (now_ns is None or waiting[0][0] < now_ns):
            self._judge_unanswered(host, pairing.unanswered(host, now_ns))
        closed = host.own_closed_slots()
        version_ns = self.watermark_ns if now_ns is None else max(now_ns, self.watermark_ns)
        for slot, window in list(host.windows.items()):
            if now_ns is None or window.end_ns <= now_ns:
                del host.windows[slot]
                closed.append(slot)
                if window.dirty or window.version:
                    self._emit(host, window, alerts, CLOSED, version_ns)
        del closed[:-CLOSED_SLOTS]
        host.recompute_next_window_end()

    def _emit(
        self, host: HostState, window: AlertWindow, alerts: list[Alert], status: str,
        version_ns: int,
    ) -> None:
        """One version of the window's alert.  A dismissal (a rule explaining the window away)
        holds an open version back; at close it is final: counted, and an alert that had open
        versions gets a last one saying it was dismissed."""
        detector = self.by_rule[window.rule_id]
        window.due_ns = None
        if window.refused:  # over the alert budget when it opened (processors/budget.py)
            window.dirty = False
            return
        reason = detector.dismissal(host, window)
        if reason is not None:
            if status == OPEN:
                return  # still dirty: the next evidence schedules another try
            window.dirty = False
            self.stats.dismissed[f"{window.rule_id}:{reason}"] += 1
            if not window.version:
                return
            status = DISMISSED
        window.dirty = False
        window.version += 1
        window.version_ns = version_ns
        doc = build_alert(window, detector.metadata, window.severity or detector.severity,
                          detector.summary(window), status)
        moved = None
        if self.campaigns is not None and window.rule_id in BEHAVIOUR_RULES:
            initial = (implied_initial_ttl(host, window.ttl_min, window.sensor_ids[0])
                       if window.ttl_min == window.ttl_max and window.sensor_ids else None)
            # behaviour_id, campaign_id; the stage key moves as the evidence grows (more
            # destinations, another length): the stream withdraws the alert from the key its
            # previous version went to
            key = annotate(doc, initial, self.campaigns)
            if window.campaign_key not in (None, key):
                moved = window.campaign_key
            window.campaign_key = key
        alerts.append(Alert(doc, moved))
        self.stats.versions[status] += 1
        if window.emitted:
            self.stats.alerts_updated += 1
        else:
            self.stats.alerts_emitted += 1
        window.emitted = True

    def readmit_refused(self, partition: int) -> None:
        """The alert budget has room again in this partition's minute (a flood folded its
        first sources in, processors/budget.py): the alerts it refused in that minute take it,
        in order, and get their first version as if admitted when they opened."""
        def waiting(host_ip: str, slot: Any) -> bool:
            host = self.hosts.get(host_ip)
            window = host.windows.get(slot) if host is not None else None
            return window is not None and window.refused

        for host_ip, slot in self.budget.readmit(partition, waiting):
            window = self.hosts[host_ip].windows[slot]
            window.refused = False
            window.dirty = True
            if window.due_ns is None and self.open_versions:
                self.schedule.next_version(host_ip, window, window.last_ns)
            if self.track_changes:
                self._changed[host_ip] = True

    def _one_packet_newcomer(self, host: HostState) -> bool:
        return host.first_ns == host.last_ns and self.admission.is_probationary(host.ip)

    def _emit_due(self, alerts: list[Alert]) -> None:
        """The open versions event time (the watermark) has made due, of any host."""
        now = self.watermark_ns
        hosts = self.hosts
        for due, host_ip, slot in self.schedule.pop_due(now):
            host = hosts.get(host_ip)
            window = host.windows.get(slot) if host is not None else None
            if window is None or window.due_ns != due:
                continue  # closed, emitted otherwise, or rescheduled since
            if window.dirty:
                if window.version == 0 and window.dst_ips and self._one_packet_newcomer(host):
                    # its partition may not have seen yet the flood its first packet is in:
                    # asked again, not emitted, while its target still looks like one forming
                    later = self.floods.forming(host_ip, window.dst_ips[0], now)
                    if later is not None:
                        window.due_ns = None
                        self.schedule.next_version(host_ip, window, now, later)
                        continue
                self._emit(host, window, alerts, OPEN, now)
            else:
                window.due_ns = None
            if self.track_changes:
                self._changed[host_ip] = True

    def _expire(self, host: HostState, alerts: list[Alert]) -> None:
        """Inactivity (capture time): emit what the host has pending and forget it."""
        self._close_due(host, None, alerts)
        del self.hosts[host.ip]
        self.admission.forget(host.ip)
        self.stats.hosts_expired += 1
        self.stats.hosts_tracked = len(self.hosts)

    def _admit(self, host_ip: str, record: dict[str, Any], alerts: list[Alert]) -> HostState:
        if len(self.hosts) >= self.max_hosts:
            self._evict(alerts)
        ts = record["ts_ns"]
        host = HostState(host_ip, record["ip_version"], ts, ts)
        self.hosts[host_ip] = host
        self.admission.admitted(host_ip, record)
        self.stats.hosts_tracked = len(self.hosts)
        if ts < self._least_last_ns:
            self._least_last_ns = ts
        return host

    def _evict(self, alerts: list[Alert]) -> None:
        """Make room: the victim the admission tiers choose (see state/admission.py) closes its
        windows, emitting their alerts, and is forgotten."""
        victim = self.hosts.pop(self.admission.victim(self.hosts))
        self._close_due(victim, None, alerts)
        self.stats.hosts_evicted += 1
        self.stats.hosts_evicted_by_tier = self.admission.evicted
        if self.track_changes:
            self._changed[victim.ip] = False

    def _sweep(self, alerts: list[Alert]) -> None:
        """Reclaim hosts idle in both senses (their open windows get their closed versions).

        Only hosts whose last_ns is behind the threshold can be concerned: when the engine's
        lower bound on it is ahead, no host is visited.  (Open versions, which the sweep
        emitted before there was a lifecycle, are due by the schedule, checked per record.)
        """
        now = self.watermark_ns
        idle_before = now - self.lateness_ns - self.idle_ns
        if self._least_last_ns <= idle_before:
            self._walk_hosts(idle_before, alerts)
        self.floods.emit_due(now - self.lateness_ns, alerts)
        self._touch_at_last_sweep = self._touch
        self._next_sweep_ns = now + self.sweep_ns

    def _walk_hosts(self, idle_before: int, alerts: list[Alert]) -> None:
        """The sweep's visit of every host, in activity order; sets the bound exactly."""
        untouched_since = self._touch_at_last_sweep
        least_last_ns = math.inf
        for host in list(self.hosts.values()):
            if host.last_ns <= idle_before and host.touched <= untouched_since:
                self._expire(host, alerts)
                if self.track_changes:
                    self._changed[host.ip] = False
                continue
            if host.last_ns < least_last_ns:
                least_last_ns = host.last_ns
        self._least_last_ns = least_last_ns

    # -- end of input, and state for the worker's table ----------------------------------

    def flush(self, now_ns: int | None = None) -> list[Alert]:
        """Close pending windows.  now_ns=None: end of input, close every window.  Otherwise
        act as if capture time had reached now_ns: close the windows that ended by then and
        expire hosts idle since before it."""
        alerts: list[Alert] = []
        for host in list(self.hosts.values()):
            if now_ns is None:
                self._close_due(host, None, alerts)
            elif now_ns - host.last_ns > self.idle_ns:
                self._expire(host, alerts)
                if self.track_changes:
                    self._changed[host.ip] = False
                continue
            else:
                self._close_due(host, now_ns, alerts)
            if self.track_changes:
                self._changed[host.ip] = True
        self.floods.close_due(now_ns, alerts)
        return alerts

    def emit_pending(self) -> list[Alert]:
        """An open version of every window holding evidence not yet emitted, whatever the
        schedule says: for a stream that went quiet (event time stands still while nothing
        arrives).  Later evidence re-emits the same alert_id, so unlike flush() nothing is
        closed early and the final versions are unchanged."""
        alerts: list[Alert] = []
        if not self.open_versions:
            return alerts
        now = self.watermark_ns
        for host in self.hosts.values():
            emitted = False
            for window in host.windows.values():
                if window.dirty:
                    self._emit(host, window, alerts, OPEN, now)
                    emitted = True
            if emitted and self.track_changes:
                self._changed[host.ip] = True
        self.floods.emit_pending(alerts)
        return alerts

    def forget(self, host_ip: str) -> None:
        """Drop a host's state without emitting anything: its state now lives elsewhere (the
        partition moved to another worker).  Not counted as expiry or eviction."""
        self.hosts.pop(host_ip, None)
        self.admission.forget(host_ip)
        self._changed.pop(host_ip, None)
        self.stats.hosts_tracked = len(self.hosts)

    def state_for(self, host_ip: str) -> dict[str, Any] | None:
        """The host's exported state (JSON-able), or None when the engine holds none."""
        host = self.hosts.get(host_ip)
        return None if host is None else host.to_dict()

    def load_state(self, host_ip: str, state: dict[str, Any]) -> list[Alert]:
        """Install a host's exported state (e.g. from a faust table after a rebalance).

        Returns the alerts of a host evicted to make room (normally none)."""
        alerts: list[Alert] = []
        restored: HostState | SeenOnce = HostState.from_dict(state)
        if restored.ip != host_ip:
            raise ValueError(f"state is for {restored.ip}, not {host_ip}")
        restored = seen_once(restored) or restored
        if host_ip not in self.hosts and len(self.hosts) >= self.max_hosts:
            self._evict(alerts)
        self.hosts[host_ip] = restored
        if restored.copies and not self._several_sensors:
            # packets remembered per host: the state was saved where several sensors were seen
            # (processors/state/dedup.py), so their copies must keep being recognised here
            self._several_sensors = True
            self.recent.hand_over(self.hosts, self.copy_span_ns)
        self.admission.restored(host_ip, restored.first_ns, restored.last_ns)
        self.stats.hosts_tracked = len(self.hosts)
        self._least_last_ns = min(self._least_last_ns, restored.last_ns)
        for window in restored.windows.values():
            self.schedule.add(host_ip, window)
        return alerts

    def take_changes(self) -> dict[str, bytes | None]:
        """Hosts changed since the last call: host -> exported state as JSON, or None if
        dropped."""
        hosts = self.hosts
        changes = {}
        for ip, alive in self._changed.items():
            host = hosts.get(ip) if alive else None
            changes[ip] = None if host is None else host.to_json()
        self._changed.clear()
        return changes

    def hosts_tracked(self) -> Iterable[str]:
        return iter(self.hosts)


def _warn_clock(sensor: str, offset_s: float, against: list[str]) -> None:
    log.warning("sensor clock offset past the bound", sensor=sensor,
                offset_s=round(offset_s, 3), against=against)

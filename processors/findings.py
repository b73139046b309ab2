"""Findings and their dedup windows.

A *finding* is one rule matching one packet (or, for retrospective rules, one remembered
packet).  Findings never leave the engine on their own: they accumulate in an *alert window*,
one per (rule, host, key, window start), and the window becomes one alert when event time passes
its end.  That is what keeps a host that sends ten thousand odd pings from raising ten thousand
alerts: the evidence grows, the alert count does not.

Windows are tumbling and aligned to the Unix epoch, so a window's start depends only on the
packet's capture time and the rule's ``alert_window_s``: a replay, a second worker or a restarted
worker computes the same window, hence the same alert id.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

#: Bounds on what one window keeps (an alert stays small whatever the traffic).
DST_LIMIT = 32
ID_LIMIT = 16
SENSOR_LIMIT = 16
CLASS_LIMIT = 8


def evidence_entry(rec: Mapping[str, Any]) -> dict[str, Any]:
    """The record fields an evidence entry keeps (None where the record lacks one).

    Spelled out as one dict display: every window's first packets become evidence, and a
    comprehension over the field names costs about twice as much.
    """
    get = rec.get
    return {
        "ts_ns": get("ts_ns"),
        "frame": get("frame"),
        "sensor_id": get("sensor_id"),
        "src_ip": get("src_ip"),
        "dst_ip": get("dst_ip"),
        "icmp_type": get("icmp_type"),
        "icmp_code": get("icmp_code"),
        "icmp_id": get("icmp_id"),
        "icmp_seq": get("icmp_seq"),
        "ttl": get("ttl"),
        "payload_len": get("payload_len"),
        "payload_class": get("payload_class"),
        "payload_sha256": get("payload_sha256"),
        "community_id": get("community_id"),
    }


#: Record fields copied into an evidence entry, in order.
EVIDENCE_FIELDS = tuple(evidence_entry({}))


def evidence_row(rec: Mapping[str, Any], note: str | None) -> tuple[Any, ...]:
    """An evidence entry as a window keeps it: the EVIDENCE_FIELDS values in order, then the
    note if there is one.  A tuple costs a quarter of the dict (~170 against ~650 bytes, ten
    per window); evidence_dict makes the dict when the alert is built."""
    get = rec.get
    row = (
        get("ts_ns"), get("frame"), get("sensor_id"), get("src_ip"), get("dst_ip"),
        get("icmp_type"), get("icmp_code"), get("icmp_id"), get("icmp_seq"), get("ttl"),
        get("payload_len"), get("payload_class"), get("payload_sha256"), get("community_id"),
    )
    return row + (note,) if note else row


def evidence_dict(row: Any) -> dict[str, Any]:
    """The evidence entry of a row (evidence_row, or its JSON list); a dict passes through."""
    if isinstance(row, dict):
        return row
    entry = dict(zip(EVIDENCE_FIELDS, row))
    if len(row) > len(EVIDENCE_FIELDS):
        entry["note"] = row[len(EVIDENCE_FIELDS)]
    return entry


@dataclass(slots=True)
class Finding:
    """One rule hit on one packet; ``facts`` are rule-specific values the summary uses.

    ``note`` is the evidence entry's note, or a function that makes it: it is called only
    if the finding is kept as evidence (most are only counted), so a rule that fires on
    every packet of a flood does not format thousands of notes nobody reads.
    """

    rule_id: str
    record: Mapping[str, Any]
    key: str = ""
    facts: dict[str, Any] | None = None
    note: str | Callable[[], str] | None = None
    #: a severity above the rule's own for this finding (e.g. a signature where the rule's
    #: other findings are heuristic): the alert takes the highest, and an update carrying a
    #: rise is emitted at once (processors/lifecycle.py)
    severity: str | None = None


def peer_of(host_ip: str, record: Mapping[str, Any]) -> str:
    """The other end of a packet as seen from the host: a request's target, a reply's sender."""
    return record["dst_ip"] if record["src_ip"] == host_ip else record["src_ip"]


def window_slot(rule_id: str, key: str, start_ns: int) -> tuple[str, str, int]:
    """A window's identity within its host (a tuple: cheaper than formatting a string)."""
    return (rule_id, key, start_ns)


#: How a fact a window already has merges with the same fact of a later finding, by the
#: fact's name prefix: ``max_*`` facts keep the largest value seen in the window (a peak rate,
#: the longest run).  Every other fact keeps the first finding's value: it describes the window
#: (a signal, an anomaly kind, a threshold).  A rule names its facts by this table.
FACT_MERGES: dict[str, Callable[[Any, Any], Any]] = {"max_": max}
#: the length of every prefix in FACT_MERGES (one slice and one lookup per fact)
FACT_PREFIX_LEN = 4


@dataclass(slots=True)
class AlertWindow:
    rule_id: str
    host: str
    key: str
    start_ns: int
    end_ns: int
    ip_version: int
    evidence_limit: int
    first_ns: int = 0
    last_ns: int = 0
    count: int = 0
    dst_ips: list[str] = field(default_factory=list)
    dst_ips_truncated: bool = False
    sensor_ids: list[str] = field(default_factory=list)
    icmp_ids: list[int] = field(default_factory=list)
    icmp_ids_truncated: bool = False
    icmp_types: list[int] = field(default_factory=list)
    seq_min: int | None = None
    seq_max: int | None = None
    ttl_min: int = 255
    ttl_max: int = 0
    len_min: int | None = None
    len_max: int = 0
    ip_len_min: int | None = None
    payload_classes: list[str] = field(default_factory=list)
    community_id: str | None = None
    facts: dict[str, Any] = field(default_factory=dict)
    #: evidence_row tuples (lists once exported and loaded)
    evidence: list[Any] = field(default_factory=list)
    evidence_omitted: int = 0
    #: evidence arrived since the alert was last emitted
    dirty: bool = False
    #: the alert has been emitted at least once (later evidence re-emits it, same id)
    emitted: bool = False
    #: versions emitted so far (processors/lifecycle.py); the next one is version + 1
    version: int = 0
    #: event time of the latest version
    version_ns: int = 0
    #: event time at which the next (open) version is due, or None when none is scheduled
    due_ns: int | None = None
    #: a severity a finding raised the window to, above the rule's own (None: the rule's)
    severity: str | None = None
    #: the alert budget refused this alert when the window opened: it is kept (its evidence
    #: counts for the rules) but no version of it is emitted (processors/budget.py)
    refused: bool = False
    #: the campaign stage key its latest version was published under (processors/campaign):
    #: a version under another key withdraws the alert from this one
    campaign_key: str | None = None
    #: (row, rendered) per evidence row, as build_alert rendered it for the last version: every
    #: version renders all of a window's rows again, ~2 µs each, and a tuple row never
    #: changes.  Not state: never exported, rebuilt after a restore.
    rendered: list[tuple[Any, Any]] | None = None

    @property
    def slot(self) -> tuple[str, str, int]:
        return (self.rule_id, self.key, self.start_ns)

    def add(self, finding: Finding, peer: str) -> None:
        """Fold one finding in.  Cheap: a few comparisons and bounded list appends.

        It runs for most findings of a busy host, so ranges are kept with plain comparisons
        rather than min()/max() calls, and each record field is read once.
        """
        rec = finding.record
        ts = rec["ts_ns"]
        if self.count == 0 or ts < self.first_ns:
            self.first_ns = ts
        if ts > self.last_ns:
            self.last_ns = ts
        self.count += 1
        self.dirty = True
        if peer not in self.dst_ips:
            if len(self.dst_ips) < DST_LIMIT:
                self.dst_ips.append(peer)
            else:
                self.dst_ips_truncated = True
        sensor = rec["sensor_id"]
        if sensor not in self.sensor_ids and len(self.sensor_ids) < SENSOR_LIMIT:
            self.sensor_ids.append(sensor)
        icmp_id = rec.get("icmp_id")
        if icmp_id is not None and icmp_id not in self.icmp_ids:
            if len(self.icmp_ids) < ID_LIMIT:
                self.icmp_ids.append(icmp_id)
            else:
                self.icmp_ids_truncated = True
        icmp_type = rec.get("icmp_type")
        if icmp_type is not None and icmp_type not in self.icmp_types:
            self.icmp_types.append(icmp_type)
        seq = rec.get("icmp_seq")
        if seq is not None:
            if self.seq_min is None or seq < self.seq_min:
                self.seq_min = seq
            if self.seq_max is None or seq > self.seq_max:
                self.seq_max = seq
        ttl = rec["ttl"]
        if ttl < self.ttl_min:
            self.ttl_min = ttl
        if ttl > self.ttl_max:
            self.ttl_max = ttl
        length = rec["payload_len"]
        if self.len_min is None or length < self.len_min:
            self.len_min = length
        if length > self.len_max:
            self.len_max = length
        ip_len = rec.get("ip_total_len")
        if ip_len is not None and (self.ip_len_min is None or ip_len < self.ip_len_min):
            self.ip_len_min = ip_len
        payload_class = rec["payload_class"]
        if payload_class not in self.payload_classes and len(self.payload_classes) < CLASS_LIMIT:
            self.payload_classes.append(payload_class)
        if self.community_id is None:
            self.community_id = rec.get("community_id")
        if finding.facts:
            facts = self.facts
            for name, value in finding.facts.items():
                if name not in facts:
                    facts[name] = value
                else:
                    merge = FACT_MERGES.get(name[:FACT_PREFIX_LEN])
                    if merge is not None:
                        facts[name] = merge(facts[name], value)
        if len(self.evidence) < self.evidence_limit:
            note = finding.note
            if callable(note):
                note = note()
            self.evidence.append(evidence_row(rec, note))
        else:
            self.evidence_omitted += 1

    def exported(self) -> dict[str, Any]:
        """Every field, sharing the live containers (HostState.to_json serialises it at once)."""
        return {name: getattr(self, name) for name in self.__slots__ if name != "rendered"}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AlertWindow:
        return cls(**data)

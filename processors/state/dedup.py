"""Duplicates: the same IP packet captured by several sensors is one packet.

An access-layer SPAN and an edge tap both capture every packet a client sends to the internet.
Each copy becomes a record, and both reach the same host's state (the key is the echo
initiator).  Counted twice, they would double every count- and volume-based rule (tunnel
packets and bytes, unsolicited replies, evidence, packet counts).  So the engine asks this
module first, for every ICMP record: is it a copy of a packet another sensor already gave?

Copies of one packet have the same addresses, ICMP type, identifier, sequence and payload hash
(the remembered *key*) and the same IP identification, from *another* sensor, within
``copy_window_s`` of capture time (clocks and the path between the sensors put them a few ms
apart; a sensor whose clock is further off than the window no longer has its copies
recognised, which is why clock offsets are watched below).  Their TTLs differ by the routers
between the sensors, so the TTL is not part of the key.  A sensor that captures the same
packet twice (a SPAN of both directions, two mirrored ports into one sensor) gives two records
with the same TTL too, within microseconds: those within ``duplicate_window_s`` (1 ms) are one
packet as well (``EngineStats.same_sensor_duplicates``, by sensor).  Nothing else of one
sensor's is merged: a ping re-sent with the same sequence has another IP id and comes later.

A copy runs no rule.  It is kept as evidence instead: its sensor, TTL and capture-time delay
go into the copies list of the first copy's evidence entry, and its sensor into the sensor_ids
of every alert window the packet contributed to, whether the copy arrives before or after the
finding (rules that report remembered requests, such as multi_destination_sequence, are
credited too).

Memory, per host (``HostState.copies`` and ``copies_before``, exported with the host so a
partition moving to another worker keeps recognising copies): once the engine has seen several
sensors (or from the start with ``processor.several_sensors``), the host's packets of the last
one to two late bounds of its capture time (``sensor_late_bound_s``), in two generations (the
older dropped whole, no per-packet eviction), at most 2 × 512 packets.  Key -> ``[ts_ns,
sensor, ip_id, ttl, copies, slots]`` (copies: ``(sensor, ttl, delay_ns)``, at most
``COPIES_PER_PACKET``; slots: the alert windows the packet went to, at most
``SLOTS_PER_PACKET``, each ``[rule, key, start_ns, in_evidence]``), about 300 bytes a packet
(the key's strings shared with the packet before; a state saved while one sensor was seen may
hold packets as ``(ts_ns, sensor, ip_id, ttl)`` tuples, made lists by ``_full`` when needed).
A copy older than the memory reaches is not recognised and counts as a packet again
(``EngineStats.copies_unrecognised`` counts the records older than the memory reaches, by
sensor).

Cost with one sensor: nothing per host.  Until a second sensor's first record, the engine keeps
the stream's last ``RECENT`` ICMP records in one ring (``Recent``: references, an append and a
look at the latest record, which finds the same sensor's duplicates) and hands them over to
their hosts' memories when that record comes, so a second sensor starting mid-stream has its
copies recognised from its first record; findings are noted for their packets (the windows
they went to) only from then on, and a copy of a packet remembered before that finds its
windows by their evidence instead.

Clock offsets (``SensorClocks``, per engine): every recognised copy is a sample of how far
apart two sensors' clocks are (plus the path delay, which requests and replies cancel out).
"""

from __future__ import annotations

from collections import deque
from statistics import median
from typing import Any

from processors.findings import EVIDENCE_FIELDS, SENSOR_LIMIT, AlertWindow, evidence_dict
from processors.state.host import EMPTY, HostState, canonical
from processors.state.once import SeenOnce

#: where an evidence row keeps the packet's capture time and sensor
_ROW_TS = EVIDENCE_FIELDS.index("ts_ns")
_ROW_SENSOR = EVIDENCE_FIELDS.index("sensor_id")

#: ICMP packets remembered per host for recognising their copies, in two generations (the
#: older is dropped whole when the newer is full).  A generation of GENERATION packets is what
#: copy_of keeps with span_ns 0 (the engine keeps its one-sensor memory in Recent instead).
GENERATION = 16
COPY_MEMORY = 2 * GENERATION
#: Once it has seen several, a generation spans the late bound of capture time (so a sensor
#: up to sensor_late_bound_s behind still has its copies recognised), at most this many packets.
SPAN_GENERATION = 512
#: While the engine has seen one sensor, the stream's latest ICMP records it keeps (Recent).
RECENT = 256
#: Records back a same-sensor duplicate is looked for among (Recent.add).
DUPLICATE_LOOKBACK = 8
#: Other sensors' copies remembered per packet (its evidence).
COPIES_PER_PACKET = 8
#: Alert windows one packet's copies are credited to.
SLOTS_PER_PACKET = 4

#: a packet's slots when findings were noted and none went to a window (None: not noted)
NO_WINDOWS = 0

# a remembered packet, as a JSON list
TS_NS, SENSOR, IP_ID, TTL, COPIES, SLOTS = range(6)


def packet_key(host_ip: str, record: dict[str, Any]) -> tuple:
    """What copies of one packet share, except the IP id (kept in the entry: the records
    that rules rebuild from the request rings do not carry it).  The host is implied (the
    memory is the host's) and the ICMP type gives the direction.  The payload hash is the
    record's own string, shared with the request rings (parsing a prefix into an int, a third
    of its memory, cost more than the rest of the check together)."""
    src = record["src_ip"]
    return (
        record["dst_ip"] if src == host_ip else src,
        record["icmp_type"],
        record["icmp_id"],
        record["icmp_seq"],
        record["payload_sha256"],
    )


def copy_of(host: HostState, record: dict[str, Any], window_ns: int, span_ns: int,
            duplicate_ns: int = 0) -> list | None:
    """The remembered packet this record is another sensor's copy of, or the same sensor's
    duplicate of (``entry[SENSOR]`` is then the record's own sensor), or None (then the record
    is remembered as a packet of its own).

    A same-sensor duplicate is the same capture twice (a SPAN of both directions, two mirrored
    ports into one sensor): the IP id and the TTL too are the same (no router in between), and
    it lies within duplicate_ns (``processor.duplicate_window_s``, 1 ms) of the first.  A ping
    re-sent with the same sequence is a new packet: its IP id differs, and it comes later.

    span_ns: 0 while the engine has seen one sensor (a generation is GENERATION packets);
    once it has seen several, the capture time a generation spans (the late bound), up to
    SPAN_GENERATION packets, and findings are noted for the packets (note_finding), so a
    packet without slots went to no window."""
    src = record["src_ip"]
    peer = record["dst_ip"] if src == host.ip else src
    sha = record["payload_sha256"]
    memory = host.copies
    if memory:
        # the strings are shared with the packet remembered before where equal (an ordinary
        # ping repeats its peer and payload): the record's own copies cost ~110 bytes a packet
        last = next(reversed(memory))
        if last[0] == peer:
            peer = last[0]
        if last[4] == sha:
            sha = last[4]
    else:  # the generation's first packet: strings of the shared table (the rings use it too)
        peer, sha = canonical(peer), canonical(sha)
    key = (peer, record["icmp_type"], record["icmp_id"], record["icmp_seq"], sha)
    entry = memory.get(key)
    if entry is None:
        before = host.copies_before
        if before:
            entry = before.get(key)
    ts = record["ts_ns"]
    if entry is not None:
        sensor = record["sensor_id"]
        if entry[SENSOR] == sensor:
            if (
                entry[IP_ID] == record.get("ip_id")
                and entry[TTL] == record["ttl"]
                and -duplicate_ns <= ts - entry[TS_NS] <= duplicate_ns
            ):
                return entry  # the same capture twice: one packet, nothing to credit
        elif (
            entry[IP_ID] == record.get("ip_id")
            and -window_ns <= ts - entry[TS_NS] <= window_ns
        ):
            entry = _full(host, key, entry)
            copies = entry[COPIES]
            if copies is None:
                copies = entry[COPIES] = []
            if len(copies) < COPIES_PER_PACKET:
                copies.append((sensor, record["ttl"], ts - entry[TS_NS]))
            return entry
        # another packet under the same key: the newer one is remembered
    _remember(host, key, record, span_ns, NO_WINDOWS if span_ns else None)
    return None


def _remember(host: HostState, key: tuple, record: dict[str, Any], span_ns: int,
              slots: int | None) -> None:
    memory = host.copies
    ts = record["ts_ns"]
    if memory and (
        len(memory) >= GENERATION
        if not span_ns
        else len(memory) >= SPAN_GENERATION
        or ts - next(iter(memory.values()))[TS_NS] >= span_ns
    ):  # the older generation is forgotten whole, at no cost per packet
        host.copies_before = memory
        host.copies = memory = {}
    elif memory is EMPTY:
        host.copies = memory = {}
    if span_ns:
        memory[key] = [ts, canonical(record["sensor_id"]), record.get("ip_id"), record["ttl"],
                       None, slots]
    else:  # copies and slots None: the short form (see _full)
        memory[key] = (ts, canonical(record["sensor_id"]), record.get("ip_id"), record["ttl"])
    return None


def _full(host: HostState, key: tuple, entry: tuple | list) -> list:
    """The remembered packet as the list it is once it has copies or slots.  Until then a
    packet remembered while the engine had seen one sensor is a tuple of its first four
    fields (72 bytes, not 104 in two blocks: 16 to 32 of them per host)."""
    if type(entry) is list:
        return entry
    full = [*entry, None, None]
    if host.copies.get(key) is entry:
        host.copies[key] = full
    else:
        host.copies_before[key] = full
    return full


def _same_capture(earlier: dict[str, Any], record: dict[str, Any]) -> bool:
    """Whether two records of one IP id are the same sensor's captures of one packet."""
    return (
        earlier["ttl"] == record["ttl"]
        and earlier["icmp_seq"] == record["icmp_seq"]
        and earlier["src_ip"] == record["src_ip"]
        and earlier["dst_ip"] == record["dst_ip"]
        and earlier["icmp_type"] == record["icmp_type"]
        and earlier["icmp_id"] == record["icmp_id"]
        and earlier["payload_sha256"] == record["payload_sha256"]
        and earlier["sensor_id"] == record["sensor_id"]
    )


def _same_capture_among(records: deque, record: dict[str, Any], duplicate_ns: int) -> dict | None:
    """The same sensor's capture of record's packet among the latest DUPLICATE_LOOKBACK
    records within duplicate_ns, or None."""
    ts, ip_id, seq = record["ts_ns"], record.get("ip_id"), record["icmp_seq"]
    for back in range(1, min(DUPLICATE_LOOKBACK, len(records)) + 1):
        earlier = records[-back]
        gap = ts - earlier["ts_ns"]
        if gap > duplicate_ns:
            break
        if (gap >= -duplicate_ns and earlier["icmp_seq"] == seq
                and earlier.get("ip_id") == ip_id and _same_capture(earlier, record)):
            return earlier
    return None


class Recent:
    """While the engine has seen one sensor: the stream's latest ICMP records, engine-wide.

    A one-sensor deployment should not pay for a second sensor that may never come, so until
    one does, nothing is remembered per host: the records themselves (references, no copy) go
    into one ring of ``RECENT``, an append each.  The same sensor's duplicates are looked for
    among the last ``DUPLICATE_LOOKBACK`` records within ``duplicate_window_s`` (a SPAN gives
    the two captures of a packet microseconds apart, with at most a few records between), only
    when the latest record is that close.  When a second sensor's first record comes, the ring is handed over: each record still in it is remembered in its host's
    copy memory (as copy_of would have), so that sensor's copies of the last RECENT records
    of the stream are recognised; a copy of an older packet counts again, and is counted
    (``forgotten_ns``: below the oldest record of a full ring at hand-over).  Not exported: a
    partition that moves while one sensor is seen starts with an empty ring there.
    """

    __slots__ = ("records", "forgotten_ns")

    def __init__(self) -> None:
        self.records: deque[dict[str, Any]] = deque(maxlen=RECENT)
        self.forgotten_ns = -1

    def add(self, record: dict[str, Any], duplicate_ns: int) -> dict[str, Any] | None:
        """The record this one is the same capture of (same sensor, packet, IP id and TTL,
        within duplicate_ns), or None, and then the record is kept.  Usually the latest
        record is further back than duplicate_ns: one look and one append."""
        records = self.records
        if records and record["ts_ns"] - records[-1]["ts_ns"] <= duplicate_ns:
            earlier = _same_capture_among(records, record, duplicate_ns)
            if earlier is not None:
                return earlier
        records.append(record)
        return None

    def hand_over(self, hosts: dict[str, HostState | SeenOnce], span_ns: int) -> None:
        """A second sensor came: remember the ring's records in their hosts' copy memories
        (findings were not noted for them: their copies look for them in the evidence)."""
        records = self.records
        if len(records) == RECENT:  # older records may have been let go of
            self.forgotten_ns = records[0]["ts_ns"] - 1
        for record in records:
            host = hosts.get(record["initiator_ip"])
            if host is not None and record["ts_ns"] >= host.first_ns:
                if type(host) is SeenOnce:  # a host seen once gets its tables back
                    host = hosts[host.ip] = host.thaw()
                _remember(host, packet_key(host.ip, record), record, span_ns, None)
        self.records.clear()


def older_than_memory(host: HostState, ts_ns: int) -> bool:
    """Whether a packet this old could have had its first copy forgotten already: some were
    forgotten, and it is older than the oldest remembered."""
    before = host.copies_before
    if not before:
        return False
    for entry in before.values():  # the first is the oldest
        return ts_ns < entry[TS_NS]
    return False


def credit_copy(host: HostState, entry: list) -> None:
    """A copy just arrived (the last in entry's copies): credit its sensor to the windows the
    packet already went to.  A packet remembered before the engine noted findings (it had
    seen one sensor only) is looked for in the open windows' evidence instead."""
    slots = entry[SLOTS]
    if slots is None:
        for window in host.windows.values():
            if any(_is_row_of(e, entry) for e in window.evidence):
                _credit(window, entry, entry[COPIES][-1:], True)
        return
    for rule_id, key, start_ns, in_evidence in slots or ():
        window = host.windows.get((rule_id, key, start_ns))
        if window is not None:
            _credit(window, entry, entry[COPIES][-1:], in_evidence)


def note_finding(host: HostState, window: AlertWindow, record: dict[str, Any]) -> None:
    """A finding on record went into window: remember the window for the packet's later
    copies, and credit the copies that came already."""
    key = packet_key(host.ip, record)
    entry = host.copies.get(key) or host.copies_before.get(key)
    if entry is None or entry[TS_NS] != record["ts_ns"] or entry[SENSOR] != record["sensor_id"]:
        return
    entry = _full(host, key, entry)
    # whether the finding became evidence (the window's latest entry): only then do its
    # copies look for it there
    evidence = window.evidence
    in_evidence = bool(evidence) and _is_row_of(evidence[-1], entry)
    slots = entry[SLOTS]
    if not slots:
        slots = entry[SLOTS] = []
    if len(slots) < SLOTS_PER_PACKET and not any(
        s[0] == window.rule_id and s[1] == window.key and s[2] == window.start_ns for s in slots
    ):
        slots.append([window.rule_id, window.key, window.start_ns, in_evidence])
    if entry[COPIES]:
        _credit(window, entry, entry[COPIES], in_evidence)


def _is_row_of(row: Any, entry: list) -> bool:
    """Whether an evidence row (findings.evidence_row tuple, its JSON list, or a dict once it
    has copies) is the remembered packet's."""
    if isinstance(row, dict):
        return row["ts_ns"] == entry[TS_NS] and row["sensor_id"] == entry[SENSOR]
    return row[_ROW_TS] == entry[TS_NS] and row[_ROW_SENSOR] == entry[SENSOR]


def _credit(window: AlertWindow, entry: list, copies: list, in_evidence: bool) -> None:
    sensors = window.sensor_ids
    for sensor, _, _ in copies:
        if sensor not in sensors and len(sensors) < SENSOR_LIMIT:
            sensors.append(sensor)
            window.dirty = True
    if not in_evidence:
        return
    for index, row in enumerate(window.evidence):
        if _is_row_of(row, entry):
            # a packet with copies keeps its evidence as a dict (findings.evidence_dict): rare,
            # and at most evidence_limit per window
            evidence = window.evidence[index] = evidence_dict(row)
            kept = evidence.setdefault("copies", [])
            for sensor, ttl, delay in copies:
                if not any(c["sensor_id"] == sensor for c in kept):
                    kept.append({"sensor_id": sensor, "ttl": ttl, "delay_ns": delay})
                    window.dirty = True
            break


class SensorClocks:
    """Each sensor's clock offset against the others, from the copies they share.

    A copy seen ``d`` ns after the first copy is a sample of ``+d`` for the copy's sensor
    against the first's: the clock difference plus the path between them, which the two
    directions of an exchange (request one way, reply the other) cancel out in the median.
    A sensor's offset is the median of its samples against every other sensor.  With two
    sensors their offsets are equal and opposite (which of them is wrong needs a third); with
    three or more the wrong one stands out.  ``CLOCK_SAMPLES`` latest samples per pair of
    sensors (one deque append per copy); the offsets are worked out every
    ``CLOCK_CHECK_EVERY`` copies and when read, and a sensor past ``warn_ns`` is reported
    (once, until it comes back within the bound).
    """

    CLOCK_SAMPLES = 256
    CLOCK_CHECK_EVERY = 1024
    #: samples a sensor needs before its offset is warned about (one copy proves little)
    WARN_AFTER = 16
    #: pairs of sensors followed (a sensor pair per two sensors that share packets)
    PAIRS = 256

    def __init__(self, warn_ns: int, warn: Any = None) -> None:
        self.warn_ns = warn_ns
        self.warn = warn  # called as warn(sensor, offset_s, against) past the bound
        #: (copy's sensor, first copy's sensor) -> latest delays
        self.pairs: dict[tuple[str, str], deque[int]] = {}
        self.offsets_ns: dict[str, float] = {}
        self.warned: set[str] = set()
        self._until_check = 1  # the first copy already gives an estimate

    def observe(self, first_sensor: str, copy_sensor: str, delay_ns: int) -> None:
        samples = self.pairs.get((copy_sensor, first_sensor))
        if samples is None:
            if len(self.pairs) >= self.PAIRS:
                return
            samples = self.pairs[(copy_sensor, first_sensor)] = deque(maxlen=self.CLOCK_SAMPLES)
        samples.append(delay_ns)
        self._until_check -= 1
        if self._until_check <= 0:
            self._until_check = self.CLOCK_CHECK_EVERY
            self._check()

    def _check(self) -> None:
        by_sensor: dict[str, list[int]] = {}
        against: dict[str, set[str]] = {}
        for (copy_sensor, first_sensor), samples in self.pairs.items():
            by_sensor.setdefault(copy_sensor, []).extend(samples)
            by_sensor.setdefault(first_sensor, []).extend(-d for d in samples)
            against.setdefault(copy_sensor, set()).add(first_sensor)
            against.setdefault(first_sensor, set()).add(copy_sensor)
        for sensor, samples in by_sensor.items():
            offset = median(samples)
            self.offsets_ns[sensor] = offset
            if abs(offset) <= self.warn_ns:
                self.warned.discard(sensor)
            elif sensor not in self.warned and len(samples) >= self.WARN_AFTER:
                self.warned.add(sensor)
                if self.warn is not None:
                    self.warn(sensor, offset / 1e9, sorted(against[sensor]))

    def offsets_s(self) -> dict[str, float]:
        """sensor -> median offset in seconds against the sensors it shares packets with."""
        self._check()
        return {sensor: offset / 1e9 for sensor, offset in sorted(self.offsets_ns.items())}

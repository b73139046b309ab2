"""HostState: everything the engine remembers about one echo initiator, as plain data.

One HostState per initiator IP (the Kafka key), so a faust table can hold it and a worker that
takes over a partition continues exactly where the last one stopped.  All times are capture
times (``ts_ns`` of records), never the wall clock.  Every collection is bounded; the bounds are
the constants below, chosen so that an ordinary host costs well under a kilobyte and a host
spraying random identifiers (icmptunnel) cannot grow without limit.  A host seen with one
record is kept as a SeenOnce (processors/state/once.py), one object instead of these tables,
until its next record.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, NamedTuple

import orjson

from processors.findings import AlertWindow
from processors.state.packed import exported

STATE_VERSION = 1

#: Echo requests remembered per identifier: enough to match replies that lag a burst (fping sends
#: every 10 ms) and to look back over a Footprints-style run.
REQUESTS_PER_ID = 16
#: ... and only for this long (capture time): a reply that late answers nothing, and no rule's
#: run or burst spans more (multi_destination_sequence looks 10 s back).  A host pinging once a
#: second keeps 16, one pinging in bursts a minute apart keeps its last burst: most of an
#: ordinary host's memory is its remembered requests.
REQUEST_MEMORY_NS = 60 * 1_000_000_000
#: Identifiers remembered per host, least recently used dropped first.
IDS_PER_HOST = 8
#: Identifiers remembered as traceroute runs.
TRACEROUTE_IDS = 8
#: Sensors remembered as having seen the host's own outbound traffic.
OUTBOUND_SENSORS = 8
#: How long a traceroute mark keeps a probe from being judged on its TTL.
TRACEROUTE_MEMORY_NS = 120 * 1_000_000_000
#: Consecutive requests on one identifier further apart than this are not one traceroute.
TRACEROUTE_STEP_GAP_NS = 30 * 1_000_000_000
#: A traceroute's first probes to pass the sensor arrive with TTL 1, whatever the distance;
#: a run whose lowest TTL is above this (two probe levels lost) did not start low.
TRACEROUTE_LOW_START = 3


#: Strings many hosts' states share (payload classes, sensor ids, the hash of an empty or a
#: Windows payload, a flood's target), one copy each: a record's strings are its own (orjson),
#: and a host keeps up to 128 requests.  Bounded: cleared when full, which only costs sharing.
CANONICAL_STRINGS = 4096
_canonical: dict[str, str] = {}


#: The one empty table every host starts with in each of its containers: read-only, so a
#: writer makes the host its own dict first (``own()``).  A host seen once never needs most
#: of them, and an empty dict costs 64 bytes (a dict with one entry ~180).
EMPTY: Any = MappingProxyType({})


def canonical(value: str) -> str:
    """One shared copy of a string seen often (see CANONICAL_STRINGS)."""
    found = _canonical.get(value)
    if found is None:
        if len(_canonical) >= CANONICAL_STRINGS:
            _canonical.clear()
        found = _canonical[value] = value
    return found


class SeenRequest(NamedTuple):
    """One echo request as remembered in the per-identifier ring (a list in JSON)."""

    ts_ns: int
    seq: int
    dst_ip: str
    ttl: int
    payload_len: int
    payload_class: str
    payload_sha256: str
    sensor_id: str
    community_id: str
    #: the frame number when the producer supplies one (optional in records), else None
    frame: int | None
    ip_total_len: int
    #: data bytes the capture kept, when the record says (payload_sha256 covers these)
    captured_len: int | None = None

    def as_record(self, host_ip: str, icmp_id: int, ip_version: int) -> dict[str, Any]:
        """The fields of the original record a rule or the evidence list needs."""
        return {
            "kind": "icmp",
            "ts_ns": self.ts_ns,
            "frame": self.frame,
            "sensor_id": self.sensor_id,
            "ip_version": ip_version,
            "src_ip": host_ip,
            "dst_ip": self.dst_ip,
            "initiator_ip": host_ip,
            "ttl": self.ttl,
            "icmp_type": 8 if ip_version == 4 else 128,
            "icmp_code": 0,
            "icmp_id": icmp_id,
            "icmp_seq": self.seq,
            "payload_len": self.payload_len,
            "payload_class": self.payload_class,
            "payload_sha256": self.payload_sha256,
            "community_id": self.community_id,
            "ip_total_len": self.ip_total_len,
        }


def shared_with(previous: SeenRequest, record: dict[str, Any]) -> tuple:
    """The fields of a request to remember, its strings shared with the request before it on
    the same identifier where equal (same destination, payload, sensor, flow): an ordinary
    ping repeats them all."""
    dst, payload_class, sha, sensor, community = (
        record["dst_ip"], record["payload_class"], record["payload_sha256"],
        record["sensor_id"], record["community_id"],
    )
    return (
        record["ts_ns"],
        record["icmp_seq"],
        previous.dst_ip if dst == previous.dst_ip else canonical(dst),
        record["ttl"],
        record["payload_len"],
        previous.payload_class if payload_class == previous.payload_class
        else canonical(payload_class),
        previous.payload_sha256 if sha == previous.payload_sha256 else sha,
        previous.sensor_id if sensor == previous.sensor_id else canonical(sensor),
        previous.community_id if community == previous.community_id else community,
        record.get("frame"),
        record["ip_total_len"],
        record.get("payload_captured_len"),
    )


@dataclass(slots=True)
class TtlProfile:
    """Where the host's ordinary traffic starts and how far it is from the sensor."""

    initial_ttl: int
    hop_distance: int
    #: "tcp_syn" when learned from host observations, else the echo payload class it came from
    learned_from: str
    learned_ns: int
    #: every stack (initial TTL, hop distance) the sensor saw behind the address: a NAT or a
    #: dual-boot host has several (processors/state/vantage.py)
    stacks: tuple[tuple[int, int], ...] = ()

    def explains(self, ttl: int, tolerance: int) -> bool:
        """Whether a TTL fits one of the stacks (their initial TTL at their hop distance)."""
        if not self.stacks:
            return abs(ttl + self.hop_distance - self.initial_ttl) <= tolerance
        return any(abs(ttl + hops - initial) <= tolerance for initial, hops in self.stacks)


@dataclass(slots=True)
class TracerouteMark:
    """An identifier whose requests stepped their TTL up: a traceroute/mtr run, once confirmed
    (see processors/state/traceroute.py for how a run is followed)."""

    first_ns: int
    last_ns: int
    #: the highest observed TTL that was part of the stepping
    max_ttl: int
    #: the lowest TTL of the run (a restored mark of an older state version: unconfirmed)
    min_ttl: int = 255
    #: Time Exceeded messages routers sent back for the run's probes
    time_exceeded: int = 0
    #: some probe of the run carried data no traceroute tool sends
    other_data: bool = False
    #: the TTL of the run's latest probe
    last_ttl: int = 0

    @property
    def confirmed(self) -> bool:
        """A real traceroute/mtr/tracert run: it started low, stepped up at least once, and
        either routers answered its probes or every probe carried a traceroute tool's data."""
        return (
            self.min_ttl <= TRACEROUTE_LOW_START
            and self.max_ttl > self.min_ttl
            and (self.time_exceeded > 0 or not self.other_data)
        )


@dataclass(slots=True)
class HostState:
    ip: str
    ip_version: int
    first_ns: int
    last_ns: int
    #: icmp_id -> recent requests (a list, oldest first, at most REQUESTS_PER_ID: a deque costs
    #: 760 bytes even for one request), least recently used identifier first
    requests: dict[int, list[SeenRequest]] = field(default_factory=lambda: EMPTY)
    traceroute_ids: dict[int, TracerouteMark] = field(default_factory=lambda: EMPTY)
    #: sensor_id -> last time that sensor saw the host send (requests, SYNs)
    outbound_sensors: dict[str, int] = field(default_factory=lambda: EMPTY)
    #: the TTL profile of the sensor whose record is being processed (set by the engine for
    #: each record from ``vantage``; rules read it)
    profile: TtlProfile | None = None
    #: sensor -> the stacks that sensor saw behind the address (processors/state/vantage.py)
    vantage: dict[str, list[list[Any]]] = field(default_factory=lambda: EMPTY)
    #: recent ICMP packets, to recognise other sensors' copies of them (processors/state/dedup.py)
    copies: dict[tuple, list[Any]] = field(default_factory=lambda: EMPTY)
    #: the generation of copies before (dropped whole when copies is full)
    copies_before: dict[tuple, list[Any]] = field(default_factory=lambda: EMPTY)
    #: sensor -> its derived profile (transient cache, not exported)
    profiles: dict[str, TtlProfile | None] = field(default_factory=lambda: EMPTY)
    #: rule id -> that rule's own small JSON-able state (each rule module documents its keys)
    scratch: dict[str, Any] = field(default_factory=dict)
    #: open alert windows, by AlertWindow.slot
    windows: dict[tuple[str, str, int], AlertWindow] = field(default_factory=lambda: EMPTY)
    #: slots of recently closed windows, so a late finding cannot re-open (and so re-emit) one
    closed_slots: list[tuple[str, str, int]] | tuple = ()
    #: earliest end among open windows (derived; lets the engine skip the close check cheaply)
    next_window_end: int | None = None
    #: the engine's record counter when this host last had a record (transient, not exported)
    touched: int = 0

    # -- echo requests -------------------------------------------------------------------

    def remember_request(self, record: dict[str, Any]) -> SeenRequest | None:
        """Add a request to its identifier's ring; return the request before it (same id)."""
        icmp_id = record["icmp_id"]
        requests = self.requests
        ring = requests.get(icmp_id)
        if ring is None:
            ring = []
            if requests is EMPTY:
                requests = self.requests = {}
            elif len(requests) >= IDS_PER_HOST:
                del requests[next(iter(requests))]
            requests[icmp_id] = ring
        elif next(reversed(requests)) != icmp_id:
            requests[icmp_id] = requests.pop(icmp_id)  # re-inserted last: most recently used
        if ring:
            previous = ring[-1]
            if len(ring) >= REQUESTS_PER_ID:
                del ring[0]
            horizon = record["ts_ns"] - REQUEST_MEMORY_NS
            while ring and ring[0].ts_ns < horizon:
                del ring[0]
            seen = shared_with(previous, record)
        else:
            previous = None
            seen = (
                record["ts_ns"],
                record["icmp_seq"],
                canonical(record["dst_ip"]),
                record["ttl"],
                record["payload_len"],
                canonical(record["payload_class"]),
                canonical(record["payload_sha256"]),
                canonical(record["sensor_id"]),
                record["community_id"],
                record.get("frame"),
                record["ip_total_len"],
                record.get("payload_captured_len"),
            )
        # _make takes the fields as one tuple: the generated __new__ costs twice as much, and
        # this runs for every request
        ring.append(SeenRequest._make(seen))
        return previous

    def find_request(self, icmp_id: int, seq: int, responder: str) -> SeenRequest | None:
        """The remembered request a reply answers: same id and sequence, newest first.

        The responder need not be the request's destination: a broadcast or multicast ping is
        answered by hosts it was never addressed to.  A request to the responder wins.
        """
        ring = self.requests.get(icmp_id)
        if not ring:
            return None
        fallback = None
        for seen in reversed(ring):
            if seen.seq == seq:
                if seen.dst_ip == responder:
                    return seen
                fallback = fallback or seen
        return fallback

    # -- traceroute ----------------------------------------------------------------------

    def mark_traceroute(self, icmp_id: int, since_ns: int, ts_ns: int, ttl: int) -> TracerouteMark:
        """Remember that requests on icmp_id stepped their TTL up to ttl (since since_ns)."""
        if self.traceroute_ids is EMPTY:
            self.traceroute_ids = {}
        mark = self.traceroute_ids.pop(icmp_id, None)
        if mark is None:
            if len(self.traceroute_ids) >= TRACEROUTE_IDS:
                del self.traceroute_ids[next(iter(self.traceroute_ids))]
            mark = TracerouteMark(since_ns, ts_ns, ttl, ttl, last_ttl=ttl)
        mark.last_ns = max(mark.last_ns, ts_ns)
        mark.max_ttl = max(mark.max_ttl, ttl)
        self.traceroute_ids[icmp_id] = mark
        return mark

    def is_traceroute_probe(self, icmp_id: int | None, ttl: int, ts_ns: int) -> bool:
        """Whether a request belongs to a recent TTL-stepping run on its identifier."""
        if not self.traceroute_ids:  # most hosts never run one
            return False
        mark = self.traceroute_ids.get(icmp_id) if icmp_id is not None else None
        return (
            mark is not None
            and ttl <= mark.max_ttl + 1
            and ts_ns - mark.last_ns <= TRACEROUTE_MEMORY_NS
            and mark.confirmed
        )

    def traceroute_explains(self, ids: list[int], ttl_max: int, first_ns: int, last_ns: int) -> bool:
        """Whether every identifier in a window was a traceroute run covering its TTLs."""
        if not ids:
            return False
        for icmp_id in ids:
            mark = self.traceroute_ids.get(icmp_id)
            if (
                mark is None
                or not mark.confirmed
                or ttl_max > mark.max_ttl + 1
                or mark.last_ns + TRACEROUTE_MEMORY_NS < first_ns
                or mark.first_ns - TRACEROUTE_MEMORY_NS > last_ns
            ):
                return False
        return True

    # -- outbound visibility -------------------------------------------------------------

    def saw_outbound(self, sensor_id: str, ts_ns: int) -> None:
        if sensor_id in self.outbound_sensors:  # the usual case: a sensor already remembered
            self.outbound_sensors[sensor_id] = ts_ns
            return
        sensor_id = canonical(sensor_id)
        if self.outbound_sensors is EMPTY:
            self.outbound_sensors = {}
        elif sensor_id not in self.outbound_sensors and len(self.outbound_sensors) >= OUTBOUND_SENSORS:
            del self.outbound_sensors[min(self.outbound_sensors, key=self.outbound_sensors.get)]
        self.outbound_sensors[sensor_id] = ts_ns

    # -- windows -------------------------------------------------------------------------

    def keep_window(self, slot: tuple[str, str, int], window: AlertWindow) -> None:
        """An alert window opened (the host's first makes its windows table)."""
        if self.windows is EMPTY:
            self.windows = {}
        self.windows[slot] = window

    def own_closed_slots(self) -> list[tuple[str, str, int]]:
        """The closed slots as a list to append to (made on the first window that closes)."""
        if type(self.closed_slots) is not list:
            self.closed_slots = list(self.closed_slots)
        return self.closed_slots

    def recompute_next_window_end(self) -> None:
        self.next_window_end = min((w.end_ns for w in self.windows.values()), default=None)

    # -- export / import -----------------------------------------------------------------

    def to_json(self) -> bytes:
        """The exported state as JSON (what the worker's table keeps)."""
        # typed rule state (processors/state/packed.py) exports as arrays
        return orjson.dumps(self._exported(), default=exported,
                            option=orjson.OPT_PASSTHROUGH_DATACLASS)

    def to_dict(self) -> dict[str, Any]:
        """The exported state as data that shares nothing with the live state."""
        return orjson.loads(self.to_json())

    def _exported(self) -> dict[str, Any]:
        # Shares the live containers, so it is serialised at once and never kept: copying
        # them first cost more than the rest of a checkpoint together.
        return {
            "state_version": STATE_VERSION,
            "ip": self.ip,
            "ip_version": self.ip_version,
            "first_ns": self.first_ns,
            "last_ns": self.last_ns,
            # Lists of pairs, not objects: JSON object keys are strings, and order is the LRU.
            "requests": [[i, [list(seen) for seen in ring]] for i, ring in self.requests.items()],
            "traceroute_ids": [
                [i, m.first_ns, m.last_ns, m.max_ttl, m.min_ttl, m.time_exceeded, m.other_data,
                 m.last_ttl]
                for i, m in self.traceroute_ids.items()
            ],
            "outbound_sensors": [[s, ts] for s, ts in self.outbound_sensors.items()],
            "profile": None
            if self.profile is None
            else [
                self.profile.initial_ttl,
                self.profile.hop_distance,
                self.profile.learned_from,
                self.profile.learned_ns,
            ],
            "vantage": self.vantage or {},
            "copies": [[key, entry] for key, entry in self.copies.items()],
            "copies_before": [[key, entry] for key, entry in self.copies_before.items()],
            "scratch": self.scratch,
            "windows": [w.exported() for w in self.windows.values()],
            "closed_slots": self.closed_slots,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> HostState:
        """The state `data` (as exported) describes; it takes over data's containers."""
        if data.get("state_version") != STATE_VERSION:
            raise ValueError(f"host state version {data.get('state_version')!r} is not {STATE_VERSION}")
        state = cls(data["ip"], data["ip_version"], data["first_ns"], data["last_ns"])
        # containers left empty stay the shared EMPTY (a writer makes its own)
        state.requests = {icmp_id: _restored_ring(ring[-REQUESTS_PER_ID:])
                          for icmp_id, ring in data["requests"]} or EMPTY
        state.traceroute_ids = {icmp_id: TracerouteMark(*mark)
                                for icmp_id, *mark in data["traceroute_ids"]} or EMPTY
        state.outbound_sensors = {canonical(s): ts for s, ts in data["outbound_sensors"]} or EMPTY
        if data["profile"] is not None:
            state.profile = TtlProfile(*data["profile"])
        state.vantage = data.get("vantage") or EMPTY
        state.copies = _restored_copies(data.get("copies", ()))
        state.copies_before = _restored_copies(data.get("copies_before", ()))
        state.scratch = data["scratch"]
        for window in data["windows"]:
            restored = AlertWindow.from_dict(window)
            # evidence rows come back as JSON lists: tuples again, as the live window keeps them
            restored.evidence = restored_rows(restored.evidence)
            state.keep_window(restored.slot, restored)
        state.closed_slots = [tuple(slot) for slot in data["closed_slots"]] or ()
        state.recompute_next_window_end()
        return state


def restored_rows(rows: list[Any]) -> list[Any]:
    """Evidence rows from JSON as tuples, each string shared with the row before where equal
    (a window's rows repeat their sensor, host, payload class and hash)."""
    restored: list[Any] = []
    previous: Any = None
    for row in rows:
        if isinstance(row, list):
            if previous is not None and len(previous) == len(row):
                row = tuple(p if type(v) is str and v == p else v for v, p in zip(row, previous))
            else:
                row = tuple(row)
            previous = row
        restored.append(row)
    return restored


def _restored_copies(pairs: Any) -> dict[tuple, Any]:
    """Remembered packets (processors/state/dedup.py) from JSON, their strings shared as
    dedup.copy_of shares them (each key's own peer and payload hash strings, and each
    packet's sensor, cost some 200 bytes a packet); one without copies or slots a tuple."""
    memory: dict[tuple, Any] = {}
    last = None
    for key, entry in pairs:
        peer, icmp_type, icmp_id, seq, sha = key
        if last is None:
            peer, sha = canonical(peer), canonical(sha)
        else:
            peer = last[0] if peer == last[0] else canonical(peer)
            sha = last[4] if sha == last[4] else sha
        last = (peer, icmp_type, icmp_id, seq, sha)
        entry[1] = canonical(entry[1])
        memory[last] = tuple(entry) if len(entry) == 4 else entry
    return memory or EMPTY


def _restored_ring(ring: list[list[Any]]) -> list[SeenRequest]:
    """Remembered requests from JSON, their strings shared as remember_request shares them
    (a loaded state would otherwise cost half as much again as the state it was saved from)."""
    restored: list[SeenRequest] = []
    previous = None
    for seen in ring:
        ts, seq, dst, ttl, length, payload_class, sha, sensor, community, frame, ip_len, *rest = seen
        captured = rest[0] if rest else None  # states saved before payload_captured_len: 11
        if previous is None:
            fields = (ts, seq, canonical(dst), ttl, length, canonical(payload_class),
                      canonical(sha), canonical(sensor), community, frame, ip_len, captured)
        else:
            fields = shared_with(previous, {
                "ts_ns": ts, "icmp_seq": seq, "dst_ip": dst, "ttl": ttl, "payload_len": length,
                "payload_class": payload_class, "payload_sha256": sha, "sensor_id": sensor,
                "community_id": community, "frame": frame, "ip_total_len": ip_len,
                "payload_captured_len": captured,
            })
        previous = SeenRequest._make(fields)
        restored.append(previous)
    return restored

"""SeenOnce: a host seen with one record, in one object instead of a HostState's tables.

Most of the addresses an edge sensor sees send one packet and never another: scanners' single
probes, backscatter, the sources of a flood before it is recognised.  Their first record leaves
a HostState with a few one-entry tables (the request ring ``{id: [request]}``, the sensor's
stack ``{sensor: [[initial, hops, 1, source, ts]]}``, ``outbound_sensors``, ``scratch``): some
1.2 kB of dicts and lists for what is one request and a few numbers.  After the host's first
record the engine keeps the same content here, each one-entry table as plain fields, and makes
the HostState back (``thaw``) when the host's next record comes or anything is to change it.
Nothing a rule sees differs: rules only ever run on a HostState.

Only a state with at most one entry in each table (one identifier with one request, one
sensor with one stack, one outbound sensor) and no alert windows, closed slots, traceroute
marks or copy memory is kept this way (:func:`seen_once`); any other stays a HostState.  A
loaded (exported) state of that shape comes back as a SeenOnce too, and the export of a
SeenOnce is the export of the HostState it stands for, byte for byte.
"""

from __future__ import annotations

from operator import attrgetter
from typing import Any

from processors.state.host import EMPTY, HostState, SeenRequest, TtlProfile


#: SeenOnce's slots for the fields of its one remembered request (SeenRequest's, in order): a
#: SeenRequest of its own would cost 144 bytes, the slots 96
_REQUEST = tuple(f"request_{name}" for name in SeenRequest._fields)
_request_fields = attrgetter(*_REQUEST)


class SeenOnce:
    """A host's state after one record (see the module's docstring).  The containers a
    HostState has are read-only views here (for code outside the record path: tests, the
    flood monitor's fold-back); anything that changes the host thaws it first."""

    __slots__ = (
        "ip", "ip_version", "first_ns", "touched",
        # the request ring's one identifier (None: no request), and its one request's fields
        "icmp_id", *_REQUEST,
        # outbound_sensors' one entry (or None)
        "outbound_sensor", "outbound_ns",
        # vantage's one sensor (or None) and the fields of its one stack
        "vantage_sensor", "initial", "hops", "observations", "source", "stack_ns",
        "profile",
        # scratch: its one item, or (key None) its items flattened (key, value, key, value ...)
        "scratch_key", "scratch_value",
    )

    # the tables a SeenOnce never holds: the same shared empty table a HostState starts with
    traceroute_ids = copies = copies_before = profiles = windows = EMPTY
    closed_slots = ()
    next_window_end = None

    @property
    def last_ns(self) -> int:
        return self.first_ns  # one moment of traffic

    # -- the HostState's tables, as read-only views (new ones each time) ----------------

    @property
    def requests(self) -> dict[int, list[SeenRequest]]:
        if self.icmp_id is None:
            return EMPTY
        return {self.icmp_id: [SeenRequest._make(_request_fields(self))]}

    @property
    def outbound_sensors(self) -> dict[str, int]:
        return EMPTY if self.outbound_sensor is None else {self.outbound_sensor: self.outbound_ns}

    @property
    def vantage(self) -> dict[str, list[list[Any]]]:
        if self.vantage_sensor is None:
            return EMPTY
        return {self.vantage_sensor: [[self.initial, self.hops, self.observations, self.source,
                                       self.stack_ns]]}

    @property
    def scratch(self) -> dict[str, Any]:
        if self.scratch_key is not None:
            return {self.scratch_key: self.scratch_value}
        items = self.scratch_value
        return {} if items is None else dict(zip(items[::2], items[1::2]))

    def holds(self, key: str) -> bool:
        """Whether scratch has key (without making the dict)."""
        if self.scratch_key is not None:
            return self.scratch_key == key
        items = self.scratch_value
        return items is not None and key in items[::2]

    # -- back to a HostState -------------------------------------------------------------

    def thaw(self) -> HostState:
        """The HostState this stands for, with its own tables (the values in them, such as a
        rule's scratch records, are this object's: it is dropped)."""
        host = HostState(self.ip, self.ip_version, self.first_ns, self.first_ns)
        if self.icmp_id is not None:
            host.requests = self.requests
        if self.outbound_sensor is not None:
            host.outbound_sensors = {self.outbound_sensor: self.outbound_ns}
        if self.vantage_sensor is not None:
            host.vantage = self.vantage
        host.profile = self.profile
        if self.scratch_key is not None or self.scratch_value is not None:
            host.scratch = self.scratch
        host.touched = self.touched
        return host

    def to_json(self) -> bytes:
        return self.thaw().to_json()

    def to_dict(self) -> dict[str, Any]:
        return self.thaw().to_dict()


def seen_once(host: HostState) -> SeenOnce | None:
    """The host as a SeenOnce, or None when its state has more than SeenOnce keeps."""
    if (
        host.first_ns != host.last_ns
        or host.windows or host.closed_slots or host.next_window_end is not None
        or host.traceroute_ids or host.copies or host.copies_before or host.profiles
        or len(host.requests) > 1 or len(host.outbound_sensors) > 1 or len(host.vantage) > 1
    ):
        return None
    profile = host.profile
    if profile is not None and type(profile) is not TtlProfile:
        return None
    once = SeenOnce()
    once.ip, once.ip_version, once.first_ns, once.touched = (
        host.ip, host.ip_version, host.first_ns, host.touched)
    once.profile = profile
    once.icmp_id = None
    for icmp_id, ring in host.requests.items():
        if len(ring) != 1:
            return None
        once.icmp_id = icmp_id
        for name, value in zip(_REQUEST, ring[0]):
            setattr(once, name, value)
    once.outbound_sensor = once.outbound_ns = None
    for sensor, ts in host.outbound_sensors.items():
        once.outbound_sensor, once.outbound_ns = sensor, ts
    once.vantage_sensor = None
    for sensor, stacks in host.vantage.items():
        if len(stacks) != 1 or len(stacks[0]) != 5:
            return None
        once.vantage_sensor = sensor
        once.initial, once.hops, once.observations, once.source, once.stack_ns = stacks[0]
    scratch = host.scratch
    once.scratch_key = once.scratch_value = None
    if len(scratch) == 1:
        (once.scratch_key, once.scratch_value), = scratch.items()
    elif scratch:
        once.scratch_value = tuple(value for item in scratch.items() for value in item)
    return once

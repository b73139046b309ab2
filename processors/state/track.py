"""What the engine learns from each event before any rule looks at it.

One tracker per event, by table.  Trackers update the shared facts several rules read (the
request rings, traceroute marks, outbound visibility, the TTL profile) and return the event's
context for the handlers: the matched request for a reply, whether the hop distance was learned
for the first time for a request or observation.
"""

from __future__ import annotations

from typing import Any, Callable

from processors import events
from processors.payloads import PAYLOAD_CLASSES
from processors.state.host import TRACEROUTE_STEP_GAP_NS, HostState, SeenRequest, TtlProfile

TCP_SYN = "tcp_syn"
#: An echo whose TTL would put its sender this far away is not used to learn hop distance.
MAX_LEARNABLE_HOPS = 40


def _learnable_initials(initials: tuple[int, ...]) -> tuple[int, ...]:
    """For each observed TTL 0..255, the OS initial TTL it can be learned from (0: none)."""
    return tuple(
        min((i for i in initials if 0 <= i - ttl <= MAX_LEARNABLE_HOPS), default=0)
        for ttl in range(256)
    )


#: payload class -> (observed TTL -> initial TTL to learn, or 0), for OS-naming classes only
_LEARNABLE_INITIAL: dict[str, tuple[int, ...]] = {
    name: _learnable_initials(row.initial_ttls)
    for name, row in PAYLOAD_CLASSES.items()
    if row.initial_ttls
}


def _learn_profile(host: HostState, initial: int, hops: int, source: str, ts_ns: int) -> bool:
    """Record where the host's ordinary traffic starts; True when learned for the first time.

    TCP SYNs come straight from the kernel's stack and win over echoes; among equals the
    latest wins (a host can move).  Only the first learning is announced: rules re-judge their
    remembered packets once, so nothing is judged twice.
    """
    profile = host.profile
    if profile is None:
        host.profile = TtlProfile(initial, hops, source, ts_ns)
        return True
    if source != TCP_SYN and profile.learned_from == TCP_SYN:
        return False
    profile.initial_ttl, profile.hop_distance = initial, hops
    profile.learned_from, profile.learned_ns = source, ts_ns
    return False


def track_echo_request(host: HostState, record: dict[str, Any]) -> bool:
    previous = host.remember_request(record)
    ts, ttl = record["ts_ns"], record["ttl"]
    host.saw_outbound(record["sensor_id"], ts)
    # Traceroute and mtr raise the TTL one step at a time on one identifier; an ordinary
    # sender's TTL, seen from the sensor, never changes (the path to the sensor is fixed).
    if (
        previous is not None
        and ttl == previous.ttl + 1
        and 0 <= ts - previous.ts_ns <= TRACEROUTE_STEP_GAP_NS
    ):
        host.mark_traceroute(record["icmp_id"], previous.ts_ns, ts, ttl)
    # An operating system's own ping tells where that stack starts: Windows ping at TTL 126
    # means 128 at 2 hops.  Learn only when the TTL fits the OS the payload names, and only
    # while SYNs (which win) have not taught it.
    learnable = _LEARNABLE_INITIAL.get(record["payload_class"])
    if learnable is not None and (host.profile is None or host.profile.learned_from != TCP_SYN):
        initial = learnable[ttl]
        if initial and not host.is_traceroute_probe(record["icmp_id"], ttl, ts):
            return _learn_profile(host, initial, initial - ttl, record["payload_class"], ts)
    return False


def track_echo_reply(host: HostState, record: dict[str, Any]) -> SeenRequest | None:
    return host.find_request(record["icmp_id"], record["icmp_seq"], record["src_ip"])


def track_time_exceeded(host: HostState, record: dict[str, Any]) -> None:
    return None


def track_host_observation(host: HostState, record: dict[str, Any]) -> bool:
    ts = record["ts_ns"]
    host.saw_outbound(record["sensor_id"], ts)
    return _learn_profile(
        host, record["initial_ttl_guess"], record["hop_distance_guess"], TCP_SYN, ts
    )


TRACKERS: dict[str, Callable[[HostState, dict[str, Any]], Any]] = {
    events.ECHO_REQUEST: track_echo_request,
    events.ECHO_REPLY: track_echo_reply,
    events.TIME_EXCEEDED: track_time_exceeded,
    events.HOST_OBSERVATION: track_host_observation,
    events.FRAGMENT_ANOMALY: track_time_exceeded,  # nothing shared to learn
}

#: Events whose tracker returns "hop distance learned for the first time".
ANNOUNCES_HOP_DISTANCE = frozenset({events.ECHO_REQUEST, events.HOST_OBSERVATION})

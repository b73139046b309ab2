"""What the engine learns from each event before any rule looks at it.

One tracker per event, by table.  Trackers update the shared facts several rules read (the
request rings, traceroute marks, outbound visibility, the TTL profiles per sensor) and return the event's
context for the handlers: the matched request for a reply, whether the hop distance was learned
for the first time for a request or observation.
"""

from __future__ import annotations

from typing import Any, Callable

from processors import events
from processors.payloads import PAYLOAD_CLASSES
from processors.state import traceroute, vantage
from processors.state.host import HostState, SeenRequest

TCP_SYN = vantage.TCP_SYN
#: An echo whose TTL would put its sender this far away is not used to learn hop distance.
MAX_LEARNABLE_HOPS = 40


def _learnable_initials(initials: tuple[int, ...]) -> tuple[int, ...]:
    """For each observed TTL 0..255, the OS initial TTL it can be learned from (0: none)."""
    return tuple(
        min((i for i in initials if 0 <= i - ttl <= MAX_LEARNABLE_HOPS), default=0)
        for ttl in range(256)
    )


#: payload class -> (observed TTL -> initial TTL to learn, or 0), for classes that prove an OS
_LEARNABLE_INITIAL: dict[str, tuple[int, ...]] = {
    name: _learnable_initials(row.initial_ttls)
    for name, row in PAYLOAD_CLASSES.items()
    if row.proves_os
}


def _learn_profile(
    host: HostState, record: dict[str, Any], initial: int, hops: int, source: str
) -> bool:
    """Count an observation of a stack at the record's sensor (processors/state/vantage.py);
    True when that sensor's profile became able to accuse for the first time.  Only that is
    announced: rules re-judge the sensor's remembered packets once, so nothing is judged twice.
    """
    sensor = record["sensor_id"]
    first = vantage.learn(host, sensor, initial, hops, source, record["ts_ns"])
    host.profile = vantage.profile_for(host, sensor)
    return first


def track_echo_request(host: HostState, record: dict[str, Any]) -> bool:
    previous = host.remember_request(record)
    ts, ttl = record["ts_ns"], record["ttl"]
    host.saw_outbound(record["sensor_id"], ts)
    # Traceroute and mtr raise the TTL one step at a time on one identifier; an ordinary
    # sender's TTL, seen from the sensor, never changes (the path to the sensor is fixed).
    if host.traceroute_ids or (previous is not None and ttl == previous.ttl + 1):
        traceroute.track_request(host, record, previous)
    # An operating system's own ping tells where that stack starts: Windows ping at TTL 126
    # means 128 at 2 hops.  Learn only when the TTL fits the OS the payload names.
    learnable = _LEARNABLE_INITIAL.get(record["payload_class"])
    if learnable is not None:
        initial = learnable[ttl]
        if initial and not host.is_traceroute_probe(record["icmp_id"], ttl, ts):
            return _learn_profile(host, record, initial, initial - ttl, record["payload_class"])
    return False


def track_echo_reply(host: HostState, record: dict[str, Any]) -> SeenRequest | None:
    return host.find_request(record["icmp_id"], record["icmp_seq"], record["src_ip"])


def track_time_exceeded(host: HostState, record: dict[str, Any]) -> None:
    traceroute.track_time_exceeded(host, record)


def track_host_observation(host: HostState, record: dict[str, Any]) -> bool:
    ts = record["ts_ns"]
    host.saw_outbound(record["sensor_id"], ts)
    return _learn_profile(
        host, record, record["initial_ttl_guess"], record["hop_distance_guess"], TCP_SYN
    )


def track_nothing(host: HostState, record: dict[str, Any]) -> None:
    """A record with nothing to share between rules (a fragment anomaly)."""
    return None


TRACKERS: dict[str, Callable[[HostState, dict[str, Any]], Any]] = {
    events.ECHO_REQUEST: track_echo_request,
    events.ECHO_REPLY: track_echo_reply,
    events.TIME_EXCEEDED: track_time_exceeded,
    events.HOST_OBSERVATION: track_host_observation,
    events.FRAGMENT_ANOMALY: track_nothing,
}

#: Events whose tracker returns "hop distance learned for the first time".
ANNOUNCES_HOP_DISTANCE = frozenset({events.ECHO_REQUEST, events.HOST_OBSERVATION})

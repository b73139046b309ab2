"""Vantage points: what a host's TTLs look like from each sensor that sees it.

A TTL says how far a packet travelled, so it only means something next to where it was
captured.  The SPAN port of an access switch sees a Windows client at TTL 128; a tap at the
internet edge, three routers on, sees the same client at 125.  So the engine keeps the host's
TTL profile per (host, sensor), and a record is judged only against what its own sensor learned.

One sensor may see several *stacks* behind one address, and that is normal: a NAT with Linux
and Windows clients behind it, a dual-boot laptop, a hypervisor's guests.  A sensor's profile is
therefore a small table of stacks, each an initial TTL with the hop distance it arrives from,
learned from TCP SYNs (host observations) and from the operating systems' own pings.  A packet
that fits any of the sensor's stacks is explained: several stacks raise nothing.  Stacks behind
one address leave it at about the same place, so an OS's ping claiming a stack more than
``HOP_SLACK`` hops from what the SYNs show is a tool imitating that OS: judged, not learned.

A stack needs ``MIN_OBSERVATIONS`` observations before it can accuse anything (one SYN that
happened to come from a VM, or one odd ping, does not define a host).  Until one of the
sensor's stacks has them the sensor knows no hop distance, and the TTL rules judge as they do
for an unknown host.  The moment the first stack becomes able to accuse is announced once per
sensor (``hop_distance_learned``), so rules judge the requests that sensor saw before.

Bounds: ``SENSORS_PER_HOST`` sensors per host (least recently seen dropped first) and
``STACKS_PER_SENSOR`` stacks per sensor (the least observed dropped); the state is plain JSON
(``HostState.vantage``: sensor -> list of ``[initial, hops, observations, source, last_ns]``),
so it travels in the worker's table with the rest of the host.  About 60 bytes per stack.
"""

from __future__ import annotations

from typing import Any

from processors.state.host import EMPTY, HostState, TtlProfile, canonical

TCP_SYN = "tcp_syn"
#: Observations of a stack before it can accuse (it explains packets from the first one).
MIN_OBSERVATIONS = 2
#: Sensors whose profiles one host keeps; more are rare (a host seen at every layer).
SENSORS_PER_HOST = 8
#: Stacks per (host, sensor): a NAT with a few OS families behind it.
STACKS_PER_SENSOR = 4

#: Hops by which the stacks behind one address may differ (a NAT router is one more hop).
HOP_SLACK = 1

# a stack, as a JSON list
INITIAL, HOPS, SEEN, SOURCE, LAST_NS = range(5)


def learn(
    host: HostState, sensor: str, initial: int, hops: int, source: str, ts_ns: int
) -> bool:
    """Count one observation of a stack at a sensor; True when the sensor's profile became
    able to accuse for the first time (its first stack reached MIN_OBSERVATIONS).

    A stack is its initial TTL: the same initial seen at another hop distance (a route
    change, a host that moved) takes the new distance.  A stack learned from SYNs keeps that
    source: SYNs come straight from the kernel's stack.  Once able to accuse, a sensor's
    profile stays able (so the announcement, and the re-judging it causes, happen once).
    """
    sensors = host.vantage
    stacks = sensors.get(sensor)
    if stacks:
        stack = stacks[0]
        if (
            stack[INITIAL] == initial
            and stack[HOPS] == hops
            and stack[SEEN] >= MIN_OBSERVATIONS
            and (source != TCP_SYN or stack[SOURCE] == TCP_SYN)
        ):
            # the usual case, a host's pings or SYNs confirming a stack that already accuses:
            # count it, and the derived view (initial TTL, hop distance, source) stays right
            stack[SEEN] += 1
            if ts_ns > stack[LAST_NS]:
                stack[LAST_NS] = ts_ns
            return False
    if source != TCP_SYN and stacks and not _echo_fits(stacks, initial, hops):
        return False
    if sensors is EMPTY:
        sensors = host.vantage = {}
    stacks = sensors.pop(sensor, None)
    if stacks is None:
        stacks = []
        if len(sensors) >= SENSORS_PER_HOST:
            del sensors[next(iter(sensors))]
    # re-inserted last: most recently seen; keyed by the shared copy of the sensor id (the
    # record's own would cost every host ~50 bytes)
    sensors[canonical(sensor)] = stacks
    could_accuse = _able(stacks)
    for stack in stacks:
        if stack[INITIAL] == initial:
            stack[HOPS] = hops  # the latest distance wins: a route changed, the host moved
            stack[SEEN] += 1
            if source == TCP_SYN:
                stack[SOURCE] = TCP_SYN
            stack[LAST_NS] = max(stack[LAST_NS], ts_ns)
            break
    else:
        if len(stacks) >= STACKS_PER_SENSOR:
            stacks.remove(min(stacks, key=lambda s: (s[SEEN], s[LAST_NS])))
        stacks.append([initial, hops, 1, canonical(source), ts_ns])
    if host.profiles:
        host.profiles.pop(sensor, None)  # the view is derived again when next asked
    return not could_accuse and _able(stacks)


def _echo_fits(stacks: list[list[Any]], initial: int, hops: int) -> bool:
    """Whether an OS's own ping may teach the sensor's profile: not against what SYNs taught.

    Several stacks behind one address leave it at the same place (the NAT, the host itself),
    so they sit at about the same hop distance from a sensor.  An echo claiming a stack at
    another distance than the SYNs show is a tool imitating that OS, which is for the rules to
    judge, not to learn from."""
    for stack in stacks:
        if stack[SOURCE] == TCP_SYN and (
            abs(stack[HOPS] - hops) > HOP_SLACK or stack[INITIAL] == initial and stack[HOPS] != hops
        ):
            return False
    return True


def _able(stacks: list[list[Any]]) -> bool:
    return any(s[SEEN] >= MIN_OBSERVATIONS for s in stacks)


def profile_for(host: HostState, sensor: str) -> TtlProfile | None:
    """The sensor's profile as the rules read it, or None while no stack can accuse.

    Its initial TTL and hop distance are the sensor's main stack (learned from SYNs first,
    then the most observed); ``stacks`` lists every stack the sensor saw, so a packet that
    fits any of them is explained.  Derived once per change and cached (transient)."""
    profiles = host.profiles
    if sensor in profiles:
        return profiles[sensor]
    stacks = host.vantage.get(sensor)
    profile = None
    if stacks:
        able = [s for s in stacks if s[SEEN] >= MIN_OBSERVATIONS]
        if able:
            main = max(able, key=lambda s: (s[SOURCE] == TCP_SYN, s[SEEN], s[LAST_NS]))
            profile = TtlProfile(
                main[INITIAL], main[HOPS], main[SOURCE], main[LAST_NS],
                tuple((s[INITIAL], s[HOPS]) for s in stacks),
            )
    if profile is not None or stacks and (len(stacks) > 1 or stacks[0][SEEN] > 1):
        # cached; not a sensor's single stack seen once (a host seen with one packet): that
        # view is one comparison to derive again, and a table for it ~180 bytes
        if profiles is EMPTY:
            profiles = host.profiles = {}
        profiles[sensor] = profile
    return profile


def use_sensor(host: HostState, record: dict[str, Any]) -> None:
    """Point host.profile at the record's sensor's profile before trackers and rules run."""
    sensor = record["sensor_id"]
    profiles = host.profiles
    host.profile = profiles[sensor] if sensor in profiles else profile_for(host, sensor)


def several_stacks(host: HostState, sensor: str) -> bool:
    """Whether a sensor sees more than one stack behind the address (NAT, dual boot)."""
    return len(host.vantage.get(sensor) or ()) > 1

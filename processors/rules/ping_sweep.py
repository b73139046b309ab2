"""ping_sweep: one host pinging many destinations in a short time.

Host discovery (nmap -sn, fping -g, Angry IP Scanner, worms) pings address after address.  The
rule keeps, per host, the destinations pinged within the last ``within_s`` seconds of capture
time and fires on each request while there are at least ``min_destinations`` of them.

A slow sweep (``nmap -T1``, a script pinging one address every 15 s) never has many
destinations in one minute, so a second, longer horizon counts destinations within
``long_within_s`` (an hour) and fires at ``long_min_destinations`` of them.

Monitoring systems (Zabbix, Nagios, vulnerability scanners) do this legitimately all day: they
are what suppressions by src_cidr are for.

Scratch state (``HostState.scratch["ping_sweep"]``): while the host has pinged one destination,
``[destination, last capture time]``; from the second on, ``recent``, destination -> last capture
time it was pinged, oldest first, at most ``max(256, 2 * min_destinations)`` entries; and
``long``, the same for the long horizon with times in seconds, at most
``2 * long_min_destinations`` entries (a sweeping host costs some 10 kB there; a host pinging a
few destinations a few entries).
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from processors.findings import AlertWindow
from processors.ruleskit import phrases
from processors.ruleskit.base import NOTHING, Reference, RuleMetadata, RuleTunables, fires, trap
from processors.ruleskit.base import Detector as BaseDetector
from processors.state.host import HostState, canonical

METADATA = RuleMetadata(
    id="ping_sweep",
    title="Ping sweep",
    description="A host sends echo requests to many distinct destinations within a minute, or"
    " to very many within an hour.",
    severity="medium",
    attack=("T1018", "T1595.001"),
    false_positives=(
        "Monitoring systems and vulnerability scanners: suppress by src_cidr with a reason.",
        "fping-based health checks over a subnet.",
    ),
    references=(
        Reference("MITRE ATT&CK T1018", "https://attack.mitre.org/techniques/T1018/"),
        Reference("MITRE ATT&CK T1595.001", "https://attack.mitre.org/techniques/T1595/001/"),
    ),
    triage=(
        "Is the source a known monitor or scanner? Then suppress it with a reason.",
        "Which ranges were swept, and did TCP connections to the responders follow?",
        "A workstation sweeping is a lead: find the process and the user.",
    ),
    status="stable",
    rev=1,
    data_requirements=(
        "ICMP echo requests with their destinations (any sensor).",
    ),
    response=(
        "Confirm the sweep is approved; else treat the source as compromised or rogue.",
        "Look for connections from the source to the hosts that answered.",
    ),
)

EXAMPLES = (
    fires("nmap -sn over 25 addresses in 2.5 s", "nmap_sweep"),
    trap("19 destinations in a minute, or 39 over 40 minutes", "slow_sweep"),
    trap("ordinary Windows, Linux and fping pings, answered", "ordinary_pings"),
)


class Tunables(RuleTunables):
    min_destinations: int = Field(20, ge=2, description="distinct destinations that make a sweep")
    within_s: float = Field(60.0, gt=0, description="... within this many seconds")
    long_min_destinations: int = Field(
        100, ge=2, description="distinct destinations that make a slow sweep (the long horizon)"
    )
    long_within_s: float = Field(
        3600.0, gt=0, description="... within this many seconds (nmap -T1 probes every 15 s)"
    )


class Detector(BaseDetector):
    metadata = METADATA

    def __init__(self, tunables: Tunables) -> None:
        super().__init__(tunables)
        self.within_ns = int(tunables.within_s * 1e9)
        self.min_destinations = tunables.min_destinations
        self.capacity = max(256, 2 * tunables.min_destinations)
        self.long_within_s = int(tunables.long_within_s)
        self.long_min = tunables.long_min_destinations
        self.long_capacity = 2 * tunables.long_min_destinations

    def on_echo_request(self, host: HostState, record: dict[str, Any], _: Any):
        ts = record["ts_ns"]
        dst = record["dst_ip"]
        scratch = host.scratch.get(self.rule_id)
        if scratch is None or type(scratch) is not dict and scratch[0] == dst:
            # one destination so far (most hosts): its last time, no tables (~60 bytes, not
            # ~700); one destination is never a sweep (min_destinations >= 2)
            host.scratch[self.rule_id] = (canonical(dst) if scratch is None else scratch[0], ts)
            return NOTHING
        if type(scratch) is not dict:  # a second destination: the tables start
            first, first_ts = scratch
            scratch = host.scratch[self.rule_id] = {
                "recent": {first: first_ts}, "long": {first: first_ts // 1_000_000_000}}
        recent = scratch["recent"]
        if next(reversed(recent), None) != dst:
            recent.pop(dst, None)  # re-inserted below, last: the dict stays oldest first
        recent[dst] = ts
        slow = scratch.get("long")
        if slow is None:
            slow = scratch["long"] = {}
        if next(reversed(slow), None) != dst:
            slow.pop(dst, None)
        slow[dst] = ts // 1_000_000_000
        # Stale entries only matter once there are enough to be a sweep; the capacities bound
        # memory meanwhile.  An ordinary pinger costs four dictionary operations.
        fast = slowly = 0  # distinct destinations, once they are a sweep
        if len(recent) >= self.min_destinations:
            fast = _prune(recent, ts - self.within_ns, self.capacity)
        if len(slow) >= self.long_min:
            slowly = _prune(slow, ts // 1_000_000_000 - self.long_within_s, self.long_capacity)
        if fast >= self.min_destinations:
            return self.finding(record, facts={"max_destinations": fast})
        if slowly >= self.long_min:
            return self.finding(record, facts={"max_destinations_long": slowly})
        return NOTHING

    def summary(self, window: AlertWindow) -> str:
        t = self.tunables
        if "max_destinations" in window.facts:
            reached, capacity = window.facts["max_destinations"], self.capacity
            within, threshold = f"{t.within_s:.0f} s", t.min_destinations
        else:  # the long horizon only
            reached, capacity = window.facts["max_destinations_long"], self.long_capacity
            within, threshold = f"{t.long_within_s / 60:.0f} min", t.long_min_destinations
        more = "+" if reached >= capacity else ""
        return (
            f"{window.host} sent echo requests to {reached}{more} distinct destinations within"
            f" {within} ({phrases.plural(window.count, 'request')} past"
            f" the threshold of {threshold} {phrases.duration(window)},"
            f" {phrases.sizes(window)} data, {phrases.identifiers(window)})"
        )


def _prune(seen: dict[str, int], since: int, capacity: int) -> int:
    """Drop the oldest destinations last pinged before `since`, and beyond `capacity`; how many
    are left (the dict is oldest first)."""
    while seen:
        oldest = next(iter(seen))
        if seen[oldest] >= since and len(seen) <= capacity:
            break
        del seen[oldest]
    return len(seen)

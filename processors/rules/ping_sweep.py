"""ping_sweep: one host pinging many destinations in a short time.

Host discovery (nmap -sn, fping -g, Angry IP Scanner, worms) pings address after address.  The
rule keeps, per host, the destinations pinged within the last ``within_s`` seconds of capture
time and fires on each request while there are at least ``min_destinations`` of them.

Monitoring systems (Zabbix, Nagios, vulnerability scanners) do this legitimately all day: they
are what suppressions by src_cidr are for.

Scratch state (``HostState.scratch["ping_sweep"]``): ``recent``, destination -> last capture
time it was pinged, oldest first; at most ``max(256, 2 * min_destinations)`` entries.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from processors.findings import AlertWindow
from processors.rules import phrases
from processors.rules.base import NOTHING, RuleMetadata, RuleTunables
from processors.rules.base import Detector as BaseDetector
from processors.state.host import HostState

METADATA = RuleMetadata(
    id="ping_sweep",
    title="Ping sweep",
    description="A host sends echo requests to many distinct destinations within a minute.",
    severity="medium",
    attack=("T1018", "T1595.001"),
    false_positives=(
        "Monitoring systems and vulnerability scanners: suppress by src_cidr with a reason.",
        "fping-based health checks over a subnet.",
    ),
    references=(
        "https://attack.mitre.org/techniques/T1018/",
        "https://attack.mitre.org/techniques/T1595/001/",
    ),
    triage=(
        "Is the source a known monitor or scanner? Then suppress it with a reason.",
        "Which ranges were swept, and did TCP connections to the responders follow?",
        "A workstation sweeping is a lead: find the process and the user.",
    ),
)


class Tunables(RuleTunables):
    min_destinations: int = Field(20, ge=2, description="distinct destinations that make a sweep")
    within_s: float = Field(60.0, gt=0, description="... within this many seconds")


class Detector(BaseDetector):
    metadata = METADATA

    def __init__(self, tunables: Tunables) -> None:
        super().__init__(tunables)
        self.within_ns = int(tunables.within_s * 1e9)
        self.min_destinations = tunables.min_destinations
        self.capacity = max(256, 2 * tunables.min_destinations)

    def on_echo_request(self, host: HostState, record: dict[str, Any], _: Any):
        ts = record["ts_ns"]
        dst = record["dst_ip"]
        scratch = host.scratch.get(self.rule_id)
        if scratch is None:
            scratch = host.scratch[self.rule_id] = {"recent": {}}
        recent = scratch["recent"]
        if next(reversed(recent), None) != dst:
            recent.pop(dst, None)  # re-inserted below, last: the dict stays oldest first
        recent[dst] = ts
        # Stale entries only matter once there are enough to be a sweep; the capacity bounds
        # memory meanwhile.  An ordinary pinger costs two dictionary operations.
        if len(recent) < self.min_destinations:
            return NOTHING
        while recent:
            oldest = next(iter(recent))
            if ts - recent[oldest] <= self.within_ns and len(recent) <= self.capacity:
                break
            del recent[oldest]
        if len(recent) < self.min_destinations:
            return NOTHING
        return self.finding(record, facts={"max_destinations": len(recent)})

    def summary(self, window: AlertWindow) -> str:
        reached = window.facts["max_destinations"]
        more = "+" if reached >= self.capacity else ""
        return (
            f"{window.host} sent echo requests to {reached}{more} distinct destinations within"
            f" {self.tunables.within_s:.0f} s ({phrases.plural(window.count, 'request')} past"
            f" the threshold of {self.tunables.min_destinations} {phrases.duration(window)},"
            f" {phrases.sizes(window)} data, {phrases.identifiers(window)})"
        )

"""icmp_flood: an echo-request flood, per target (many new sources) and per source (rate).

The flood most often seen at an internet edge is ``hping3 --icmp --flood --rand-source``: empty
echo requests to one victim, each from a new spoofed address.  Per host, every one of them is a
one-packet host with a tiny, scanner-shaped request; a detector that judges hosts one by one
raises two alerts per spoofed source and never names the flood.  This rule names it twice:

* **per target** (alert key ``target``; the alert's ``src_ip`` is the *victim*, its
  ``dst_ips`` the first sources): the flood monitor (processors/flood.py) counts, per target,
  echo requests from sources the engine does not track yet.  ``min_sources`` of them within
  ``within_s`` make a flood.  While it runs, such first-contact requests to the target are
  folded into the flood alert instead of becoming hosts: their per-source findings
  (tiny_payload, scanner_payload ...) are counted in its details (``folded_<rule>``), not
  alerted one by one, and the hosts admitted before the threshold was reached are folded back
  in.  A source seen again and again (the monitor's doorkeeper counts folded sources) is
  tracked as usual from its third request (random spoofed addresses repeat by chance, hardly
  three times), so a real host is never hidden for long.
* **per source** (alert key ``source``): a tracked host sending at least ``per_source_pps``
  echo requests within one second of capture time (a single-source ``ping -f`` or hping3
  flood), with its peak rate.

Limits, honestly: records are keyed by the echo initiator (ARCHITECTURE.md decision 3), so no
worker sees all of a spoofed flood's sources.  The monitor counts per records partition, which
is deterministic (the same in ``oddping scan`` and on any number of workers, see
processors/partitions.py), with the threshold shared out over the partitions; the alert is
raised by the partition the victim's own address maps to, from its share of the sources, and
states the partition count and the estimate for all of them (random spoofed sources spread
evenly).  Other partitions fold their share silently (counted in EngineStats and /metrics).  The
monitor's counters live in the worker, not in a changelog table: a restarted worker starts
counting afresh (the alert id is stable, so later versions continue the same alert).

Scratch state (``HostState.scratch["icmp_flood"]``): a :class:`SourceRate` (exported as
``[second, requests in it, peak]``), created only once a host sends two requests on one
identifier within a second.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import Field

from processors.findings import AlertWindow
from processors.ruleskit import phrases
from processors.ruleskit.base import NOTHING, Reference, RuleMetadata, RuleTunables, fires, trap
from processors.ruleskit.base import Detector as BaseDetector
from processors.state.host import HostState
from processors.state.packed import Packed

NS_PER_S = 1_000_000_000
TARGET = "target"
SOURCE = "source"

METADATA = RuleMetadata(
    id="icmp_flood",
    title="ICMP echo flood",
    description=(
        "Echo requests flood one target from many new (often spoofed) sources, or one source"
        " sends echo requests faster than any ping does."
    ),
    severity="high",
    attack=("T1498.001", "T1498"),
    false_positives=(
        "Load and capacity tests with hping3 or ping -f.",
        "The first seconds of a capture on a large network, when every host is new and many"
        " ping the same gateway or resolver: raise min_sources.",
        "Monitoring farms that ping one address from many probes at once.",
    ),
    references=(
        Reference("hping3 --icmp --flood --rand-source"),
        Reference("MITRE ATT&CK T1498.001", "https://attack.mitre.org/techniques/T1498/001/"),
        Reference(
            "RFC 2827: ingress filtering against spoofed sources (and CERT CA-1998-01, smurf)",
            "https://www.rfc-editor.org/rfc/rfc2827",
        ),
    ),
    triage=(
        "Is the target a service of yours? Check its load and upstream utilisation now.",
        "Per target: the sources are spoofed if most are seen once; ask the upstream provider"
        " to filter and check your own egress filtering (BCP 38).",
        "Per source: who owns the host, and is a load test scheduled?",
    ),
    status="experimental",
    rev=1,
    data_requirements=(
        "Every echo request to the target from all sources: the sensors that see the target's "
        "traffic.",
    ),
    response=(
        "Rate-limit or filter ICMP towards the target upstream (ingress filtering for spoofed "
        "sources).",
        "Tell the target's owner; check the target's availability.",
    ),
)

EXAMPLES = (
    fires("a fast source and 1,500 spoofed sources at one target", "flood", zoo=False),
    trap("ordinary Windows, Linux and fping pings, answered", "ordinary_pings"),
)


@dataclass(slots=True)
class SourceRate(Packed):
    """The host's echo requests per second of capture time."""

    #: the current second, and the requests in it
    second: int
    count: int
    #: the most requests in one second so far
    peak: int


class Tunables(RuleTunables):
    min_sources: int = Field(
        1000,
        ge=2,
        description="new sources (not yet tracked) sending echo requests to one target within"
        " within_s that make a flood, over all partitions (each partition needs its share)",
    )
    within_s: float = Field(10.0, gt=0, description="... within this many seconds")
    per_source_pps: int = Field(
        500,
        ge=2,
        description="echo requests one tracked host sends within one second of capture time"
        " that make it a flooding source (ping sends 1/s, ping -f and hping3 thousands)",
    )
    update_interval_s: float = Field(
        60.0,
        gt=0,
        description="while a flood runs, its target alert is re-emitted (same alert_id, new"
        " counts) at most once per this many seconds of capture time",
    )
    max_targets: int = Field(
        1024,
        ge=1,
        description="targets the flood monitor counts per partition (the busiest are kept;"
        " dropped ones are counted)",
    )


class Detector(BaseDetector):
    metadata = METADATA

    def __init__(self, tunables: Tunables) -> None:
        super().__init__(tunables)
        self.per_source_pps = tunables.per_source_pps

    def on_echo_request(self, host: HostState, record: dict[str, Any], _: Any):
        second = record["ts_ns"] // NS_PER_S
        scratch = host.scratch.get(self.rule_id)
        if scratch is None:
            # Nothing kept until a second holds two requests on one identifier (the ring
            # shows the one before): a host pinging once a second or less costs nothing.
            ring = host.requests.get(record["icmp_id"])
            if not ring or len(ring) < 2 or ring[-2].ts_ns // NS_PER_S != second:
                return NOTHING
            host.scratch[self.rule_id] = SourceRate(second, 2, 2)
            return NOTHING
        if type(scratch) is not SourceRate:  # as loaded from an exported state
            scratch = host.scratch[self.rule_id] = SourceRate.from_json(scratch)
        if scratch.second != second:
            scratch.second, scratch.count = second, 1
            return NOTHING
        count = scratch.count = scratch.count + 1
        if count > scratch.peak:
            scratch.peak = count
        if count < self.per_source_pps:
            return NOTHING
        return self.finding(record, SOURCE, facts={"max_requests_per_s": count})

    def summary(self, window: AlertWindow) -> str:
        if window.key == TARGET:
            return target_summary(window)
        return (
            f"{window.host} sent echo requests at up to {window.facts['max_requests_per_s']:,}"
            f" per second (threshold {self.per_source_pps:,}/s):"
            f" {phrases.plural(window.count, 'request')} past the threshold"
            f" {phrases.destinations(window)} {phrases.duration(window)},"
            f" {phrases.sizes(window)} data"
        )


def target_summary(window: AlertWindow) -> str:
    facts = window.facts
    seconds = max((window.last_ns - window.first_ns) / NS_PER_S, 1.0)
    partitions = facts.get("partitions", 1)
    share = (
        f" on 1 of {partitions} records partitions (about {facts['estimated_sources']:,} over"
        f" all of them)"
        if partitions > 1
        else ""
    )
    folded = facts.get("folded_findings", 0)
    return (
        f"{window.host} received echo requests from {facts['sources']:,} new sources{share}"
        f" {phrases.duration(window)}, {window.count / seconds:,.0f} per second on average and"
        f" {facts['max_sources_per_s']:,} at peak, {phrases.sizes(window)} data;"
        f" {folded:,} per-source findings of these sources were folded into this alert"
    )

"""multi_destination_sequence: one echo identifier, one advancing sequence, several destinations.

An ordinary ping run is one source, one destination, one identifier, and a sequence number that
rises by one per request.  The seed's hosts broke that shape: each request of a single
run (identifier 0x0001, sequence 40, 41, 42 ...) went to a different one of three destinations,
interleaved, within seconds.  It turned out to be Office 365 "Footprints" latency telemetry, but
the same shape is what a hand-rolled beacon or a crafted-packet tool produces.

Two ordinary senders make the shape too, and are the traps this rule must not fall into:
Windows keeps one system-wide sequence counter (identifier 1) shared by every ping process, so
concurrent pings interleave; fping round-robins one sequence counter across all its targets.
So the shape alone is not enough: a run fires only when it also carries a payload no ordinary
ping tool sends, or a TTL its stack would not start from.  A Windows host pinging several hosts
one after another (runs of consecutive sequence numbers to the same destination) never
interleaves enough to fire.

State read: the per-identifier request ring (HostState.requests).  The run is judged when a
request switches destination, walking back over the ring.  When a run qualifies, its earlier
requests become evidence too (the alert shows sequence 40-48, not 42-48).

Scratch state (``HostState.scratch["multi_destination_sequence"]``): ``reported``, identifier
(as a string) -> capture time of the newest request already reported, so no request is
reported twice.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from processors.findings import AlertWindow, Finding
from processors.payloads import OS_PING, PING_TOOL, TRACEROUTE, NORMAL_INITIAL_TTLS, classes_of
from processors.ruleskit import phrases
from processors.ruleskit.base import NOTHING, Reference, RuleMetadata, RuleTunables, fires, trap
from processors.ruleskit.base import Detector as BaseDetector
from processors.ruleskit.ttlcheck import (
    OsTtlTable,
    PayloadClassList,
    implied_initial_ttl,
    within_tolerance,
)
from processors.state.host import IDS_PER_HOST, REQUESTS_PER_ID, HostState, SeenRequest

METADATA = RuleMetadata(
    id="multi_destination_sequence",
    title="One echo sequence spread over several destinations",
    description=(
        "A host's echo requests on one identifier advance their sequence number as a single"
        " ping run while consecutive requests go to different destinations, with a payload or"
        " TTL no ordinary ping tool produces."
    ),
    severity="medium",
    attack=("T1095",),
    false_positives=(
        "Office 365 rich clients' Footprints latency telemetry (2-byte zero payload, initial"
        " TTL 30) towards Microsoft addresses: the seed's case; suppress by dst_cidr once"
        " confirmed.",
        "Custom monitoring agents that probe several targets from one raw socket.",
    ),
    references=(
        Reference(
            "SANS ISC diary (Andy Laman): small ICMP echo requests from Windows hosts, one"
            " identifier and sequence across three destinations (the seed)",
        ),
        Reference(
            "RFC 792: Internet Control Message Protocol",
            "https://www.rfc-editor.org/rfc/rfc792",
        ),
        Reference("MITRE ATT&CK T1095", "https://attack.mitre.org/techniques/T1095/"),
    ),
    triage=(
        "Which process sends them? Pull a host trace (Sysmon/ETW) for raw ICMP use.",
        "Who are the destinations? Vendor telemetry endpoints point to a benign agent.",
        "Does the same host also raise tiny_payload, unknown_payload or ttl_deviation?",
    ),
    status="stable",
    rev=1,
    data_requirements=(
        "ICMP echo requests of the host to several destinations (any sensor).",
    ),
    response=(
        "Find the process that sends the echoes on the host (EDR: raw-socket or ICMP API use).",
        "If it is not a known agent, isolate the host and collect the binary.",
    ),
)

EXAMPLES = (
    fires("the seed: one identifier, one sequence over three Footprints addresses", "seed"),
    trap("ordinary Windows, Linux and fping pings, answered", "ordinary_pings"),
)


class Tunables(RuleTunables):
    min_destinations: int = Field(
        3, ge=2, description="distinct destinations one run must reach"
    )
    within_s: float = Field(
        10.0, gt=0, description="the run's requests all lie within this many seconds"
    )
    max_seq_step: int = Field(
        3,
        ge=1,
        description="consecutive requests of the run advance the sequence by 1 to this much"
        " (Windows' shared counter skips numbers other processes used)",
    )
    min_interleave: float = Field(
        0.75,
        ge=0,
        le=1,
        description="share of consecutive requests in the run that switch destination; a host"
        " pinging hosts one after another stays far below",
    )
    lookback: int = Field(
        12, ge=2, le=REQUESTS_PER_ID, description="requests examined per judgement"
    )
    ordinary_payload_classes: PayloadClassList = Field(
        default_factory=lambda: classes_of(OS_PING, PING_TOOL, TRACEROUTE),
        description="payloads of ordinary ping tools: a run carrying only these with ordinary"
        " TTLs is Windows' shared counter or fping, not a finding",
    )
    normal_initial_ttls: list[int] = Field(
        default_factory=lambda: list(NORMAL_INITIAL_TTLS),
        description="initial TTLs counted as ordinary when the host's hop distance is known",
    )
    max_hops: int = Field(
        30, ge=1, description="farthest plausible sender when judging a payload's OS by TTL"
    )


class Detector(BaseDetector):
    metadata = METADATA

    def __init__(self, tunables: Tunables) -> None:
        super().__init__(tunables)
        self.within_ns = int(tunables.within_s * 1e9)
        self.min_destinations = tunables.min_destinations
        self.ordinary = frozenset(tunables.ordinary_payload_classes)
        self.normal = within_tolerance(tunables.normal_initial_ttls, 1)
        self.os_ttls = OsTtlTable(tunables.max_hops, 1)

    def on_echo_request(self, host: HostState, record: dict[str, Any], _: Any):
        ring = host.requests.get(record["icmp_id"])
        min_destinations = self.min_destinations
        # Judge only when this request switched destination: ordinary single-target pings
        # (the vast majority) cost one comparison.
        if ring is None or len(ring) < min_destinations or ring[-2].dst_ip == record["dst_ip"]:
            return NOTHING
        run = self._run_ending_now(ring)
        if len(run) < min_destinations:
            return NOTHING
        destinations = {seen.dst_ip for seen in run}
        if len(destinations) < min_destinations:
            return NOTHING
        switches = sum(1 for a, b in zip(run, run[1:]) if a.dst_ip != b.dst_ip)
        if switches < self.tunables.min_interleave * (len(run) - 1):
            return NOTHING
        if all(self._ordinary(host, seen) for seen in run):
            return NOTHING
        return self._report(host, record["icmp_id"], run, len(destinations))

    def _report(self, host: HostState, icmp_id: int, run: list[SeenRequest], destinations: int):
        """Findings for the run's odd requests not reported yet, oldest first."""
        scratch = host.scratch.get(self.rule_id)
        if scratch is None:
            scratch = host.scratch[self.rule_id] = {"reported": {}}
        reported = scratch["reported"]
        id_key = str(icmp_id)
        already = reported.pop(id_key, -1)
        reported[id_key] = run[0].ts_ns  # run[0] is the newest
        while len(reported) > IDS_PER_HOST:
            del reported[next(iter(reported))]
        key = f"id={phrases.hex_id(icmp_id)}"
        facts = {"max_run_length": len(run), "max_run_destinations": destinations}
        # Ordinary pings caught up in the run (Windows' ping.exe sharing the counter) are not
        # the finding: only the odd requests become evidence.
        return [
            Finding(self.rule_id, seen.as_record(host.ip, icmp_id, host.ip_version), key, facts)
            for seen in reversed(run)
            if seen.ts_ns > already and not self._ordinary(host, seen)
        ]

    def _run_ending_now(self, ring) -> list[SeenRequest]:
        """The newest requests that form one ping run: sequence advancing, close in time."""
        t = self.tunables
        newest = ring[-1]
        run = [newest]
        for seen in reversed(ring):
            if seen is newest:
                continue
            step = (run[-1].seq - seen.seq) & 0xFFFF
            if not 1 <= step <= t.max_seq_step or newest.ts_ns - seen.ts_ns > self.within_ns:
                break
            run.append(seen)
            if len(run) >= t.lookback:
                break
        return run

    def _ordinary(self, host: HostState, seen: SeenRequest) -> bool:
        if seen.payload_class not in self.ordinary:
            return False
        # each request is judged against the profile its own sensor learned
        implied = implied_initial_ttl(host, seen.ttl, seen.sensor_id)
        if implied is not None and implied not in self.normal:
            return False
        return self.os_ttls.fits(host, seen.ttl, seen.payload_class, seen.sensor_id) is not False

    def summary(self, window: AlertWindow) -> str:
        shown = ", ".join(window.dst_ips[:3]) + (", ..." if len(window.dst_ips) > 3 else "")
        return (
            f"{window.host} sent {phrases.echo_requests(window)} {phrases.duration(window)},"
            f" consecutive requests of one ping run alternating between {shown}"
        )

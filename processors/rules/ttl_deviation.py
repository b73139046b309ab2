"""ttl_deviation: echo requests that left the host with a TTL no normal stack uses, or not its own.

A host's hop distance to the sensor is fixed by the path, and is learned from its other packets:
TCP SYNs (host observations from the producer) and its operating system's own pings.  With it,
an echo's TTL gives the exact initial TTL it left with.  The seed: Windows hosts whose SYNs
arrive at 126 (128 at 2 hops) sent echoes at TTL 28, so those left at 30, which no normal stack
uses (real stacks start at 64, 128 or 255; old Windows 32; a few devices 60, 200, 254).  An echo
that left at a normal value that is not the host's own (64 from a host whose SYNs start at 128)
fires too, unless turned off: something else on the host builds its own packets.

Packets seen before the hop distance is learned are judged once when it is, from the request
rings (event ``hop_distance_learned``).  Traceroute probes have stepping TTLs by design and are
dismissed.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from processors.findings import AlertWindow
from processors.payloads import NORMAL_INITIAL_TTLS
from processors.ruleskit import phrases
from processors.ruleskit.base import NOTHING, Reference, RuleMetadata, RuleTunables, fires, trap
from processors.ruleskit.base import Detector as BaseDetector
from processors.ruleskit.ttlcheck import within_tolerance
from processors.state.host import HostState

METADATA = RuleMetadata(
    id="ttl_deviation",
    title="Echo TTL from no normal stack, or not the host's own",
    description=(
        "Given the host's hop distance learned from its other traffic, an echo request's TTL"
        " implies an initial TTL that no normal stack uses or that differs from the host's"
        " other traffic."
    ),
    severity="medium",
    attack=("T1095",),
    false_positives=(
        "Applications that set their own TTL on purpose: Office 365 Footprints (30), some"
        " latency probes and path-MTU tools.",
        "A NAT or VM host whose guests use another OS (WSL2 or Linux VMs on Windows: 64 where"
        " the host's SYNs start at 128); set flag_other_normal_initial = false if common.",
        "A route change between learning the hop distance and the echo (beyond hop_tolerance).",
    ),
    references=(
        Reference(
            "SANS ISC diary (Andy Laman): TTL 28 at 2 hops = initial 30 on Windows 10 (the seed)",
        ),
        Reference(
            "p0f v3: passive OS fingerprinting, initial TTL and distance",
            "https://lcamtuf.coredump.cx/p0f3/",
        ),
        Reference("MITRE ATT&CK T1095", "https://attack.mitre.org/techniques/T1095/"),
    ),
    triage=(
        "Which process sets the TTL? Raw-socket or IcmpSendEcho users with a custom TTL.",
        "Does the host also raise unknown_payload or multi_destination_sequence?",
        "Confirm the hop distance: look at the host's SYN TTLs in the evidence window.",
    ),
    status="stable",
    rev=1,
    data_requirements=(
        "TCP SYN observations (host_observation records) of the host from the same sensor, or "
        "its own ordinary pings, to learn its hop distance.",
    ),
    response=(
        "Find the process that sets the odd TTL (raw sockets, a crafting library).",
        "Isolate the host if the sender is not an approved tool.",
    ),
)

EXAMPLES = (
    fires("the seed: TTL 28 from a host whose SYNs arrive at 126", "seed"),
    trap("traceroute -I stepping its TTL up", "linux_traceroute"),
    trap("ordinary Windows, Linux and fping pings, answered", "ordinary_pings"),
)


class Tunables(RuleTunables):
    normal_initial_ttls: list[int] = Field(
        default_factory=lambda: list(NORMAL_INITIAL_TTLS),
        description="initial TTLs real stacks use",
    )
    hop_tolerance: int = Field(
        1, ge=0, description="hops the implied initial TTL may be off (route changes)"
    )
    flag_other_normal_initial: bool = Field(
        True,
        description="also fire when the implied initial TTL is normal but not the one the"
        " host's other traffic starts at",
    )


class Detector(BaseDetector):
    metadata = METADATA
    dismissed_by_traceroute = True

    def __init__(self, tunables: Tunables) -> None:
        super().__init__(tunables)
        self.normal = within_tolerance(tunables.normal_initial_ttls, tunables.hop_tolerance)
        self.hop_tolerance = tunables.hop_tolerance
        self.flag_other_normal_initial = tunables.flag_other_normal_initial

    def on_echo_request(self, host: HostState, record: dict[str, Any], _: Any):
        if host.profile is None:
            return NOTHING
        return self._judge(host, record)

    def on_hop_distance_learned(self, host: HostState, record: dict[str, Any], _: Any):
        """Judge the requests remembered from before the hop distance was known."""
        findings = []
        sensor = record["sensor_id"]
        for icmp_id, ring in host.requests.items():
            for seen in ring:
                if seen.sensor_id != sensor:
                    continue  # judged against the profile its own sensor learns
                if (
                    seen.ts_ns == record["ts_ns"]
                    and seen.seq == record.get("icmp_seq")
                    and seen.dst_ip == record["dst_ip"]
                ):
                    continue  # the request that taught us: on_echo_request judges it
                findings.extend(
                    self._judge(host, seen.as_record(host.ip, icmp_id, host.ip_version))
                )
        return findings

    def _judge(self, host: HostState, record: dict[str, Any]):
        profile = host.profile
        ttl = record["ttl"]
        implied = ttl + profile.hop_distance
        if profile.explains(ttl, self.hop_tolerance):
            return NOTHING  # the host's own stack, or another behind the address (NAT, dual boot)
        if implied in self.normal and not self.flag_other_normal_initial:
            return NOTHING
        if host.is_traceroute_probe(record["icmp_id"], ttl, record["ts_ns"]):
            return NOTHING
        return self.finding(
            record,
            facts={
                "implied_initial_ttl": implied,
                "hop_distance": profile.hop_distance,
                "host_initial_ttl": profile.initial_ttl,
                "learned_from": profile.learned_from,
            },
        )

    def summary(self, window: AlertWindow) -> str:
        f = window.facts
        note = (
            f" (initial {f['implied_initial_ttl']} at {phrases.plural(f['hop_distance'], 'hop')};"
            f" its other traffic starts at {f['host_initial_ttl']})"
        )
        return f"{window.host} sent {phrases.echo_requests(window, ttl_note=note)}"

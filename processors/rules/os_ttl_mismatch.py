"""os_ttl_mismatch: the payload names an operating system whose initial TTL cannot give the TTL seen.

Windows' ping data ("abcdefghijklmnopqrstuvwabcdefghi") from a stack that starts at 128 cannot
arrive with TTL 60: that is a Linux or BSD stack (64) sending Windows-looking data, i.e. a tool
imitating Windows, or a packet crafted elsewhere and replayed.  When the host's hop distance is
known, the implied initial TTL must match the OS's exactly (within a hop); otherwise the TTL must
lie within a plausible number of hops below the OS's initial TTL.

Only data that proves an operating system may accuse (``PayloadClass.proves_os``): Windows',
iputils', BSD's, Cisco's own pings.  A multi-platform tool's data (fping, busybox) says nothing
about the stack below it: fping on Windows sends its 56 zero bytes at 128.

Traceroute probes have any TTL by design and are dismissed.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from oddping.ttl import initial_ttl_guess
from processors.findings import AlertWindow
from processors.payloads import describe
from processors.ruleskit import phrases
from processors.ruleskit.base import NOTHING, Reference, RuleMetadata, RuleTunables, fires, trap
from processors.ruleskit.base import Detector as BaseDetector
from processors.ruleskit.ttlcheck import OsTtlTable, implied_initial_ttl
from processors.state.host import HostState

METADATA = RuleMetadata(
    id="os_ttl_mismatch",
    title="Echo data names an OS its TTL contradicts",
    description=(
        "An echo request's data is an operating system's ping (Windows, Linux, BSD, Cisco ...)"
        " but its TTL cannot have started at that system's initial TTL."
    ),
    severity="medium",
    attack=("T1095",),
    false_positives=(
        "Hosts behind a TTL-rewriting middlebox (some load balancers, TTL normalisers).",
        "Paths longer than max_hops when the hop distance is not yet learned.",
        "Tools that copy Windows' payload on purpose (some monitoring products).",
    ),
    references=(
        Reference(
            "p0f v3: passive fingerprinting, initial TTL guessing",
            "https://lcamtuf.coredump.cx/p0f3/",
        ),
        Reference("Snort/ET GPL ICMP_INFO PING Windows / *NIX signatures"),
        Reference("MITRE ATT&CK T1095", "https://attack.mitre.org/techniques/T1095/"),
    ),
    triage=(
        "Compare with the host's other traffic (ttl_deviation, TCP SYN TTLs): which OS is it?",
        "Find the sending process: a crafted-packet library imitating ping is a lead.",
    ),
    status="test",
    rev=1,
    data_requirements=(
        "Echo request data classified by the producer (payload_class).",
        "The host's hop distance, learned from TCP SYN observations from the same sensor, "
        "else the TTL alone is judged.",
    ),
    response=(
        "Find the process that crafts the echoes on the host.",
        "Isolate the host if the sender is not an approved tool.",
    ),
)

EXAMPLES = (
    fires("Windows' alphabet at TTL 60 (a stack starting at 64)", "windows_data_at_ttl_60"),
    trap("ordinary Windows, Linux and fping pings, answered", "ordinary_pings"),
)


class Tunables(RuleTunables):
    max_hops: int = Field(
        30,
        ge=1,
        description="with no learned hop distance, the OS's initial TTL minus the TTL seen"
        " beyond this is implausible",
    )
    hop_tolerance: int = Field(
        1, ge=0, description="with a learned hop distance, how far the implied initial TTL may be off"
    )


class Detector(BaseDetector):
    metadata = METADATA
    dismissed_by_traceroute = True

    def __init__(self, tunables: Tunables) -> None:
        super().__init__(tunables)
        self.os_ttls = OsTtlTable(tunables.max_hops, tunables.hop_tolerance)

    def fires_on(self, payload_class: str) -> bool:
        return self.os_ttls.names_os(payload_class)  # other data cannot contradict an OS

    def on_echo_request(self, host: HostState, record: dict[str, Any], _: Any):
        ttl = record["ttl"]
        if self.os_ttls.fits(host, ttl, record["payload_class"]) is not False:
            return NOTHING
        if host.is_traceroute_probe(record["icmp_id"], ttl, record["ts_ns"]):
            return NOTHING
        row = describe(record["payload_class"])
        implied = implied_initial_ttl(host, ttl)
        return self.finding(
            record,
            facts={
                "os": row.sender,
                "os_initial_ttl": row.initial_ttls[0],
                "implied_initial_ttl": implied if implied is not None else initial_ttl_guess(ttl),
                "hop_distance": None if host.profile is None else host.profile.hop_distance,
            },
        )

    def summary(self, window: AlertWindow) -> str:
        facts = window.facts
        hops = facts.get("hop_distance")
        origin = (
            f"initial {facts['implied_initial_ttl']} at {phrases.plural(hops, 'hop')}"
            if hops is not None
            else f"pointing to an initial {facts['implied_initial_ttl']}"
        )
        return (
            f"{window.host} sent {phrases.plural(window.count, 'echo request')} carrying"
            f" {facts['os']} data with {phrases.ttls(window)} ({origin}), but {facts['os']}"
            f" starts at {facts['os_initial_ttl']}, using {phrases.identifiers(window)}"
            f"{phrases.sequences(window)} {phrases.destinations(window)}"
        )

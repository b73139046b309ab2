"""oversized_payload: echo requests with more data than a ping needs, or fragmented.

Pings carry 32 or 56 bytes.  Over 1024 bytes of echo data (the classic IDS threshold is 800:
"Large ICMP Packet") is room for a file chunk, and a fragmented echo is either an MTU test or
something hiding in fragments (ping of death, IDS evasion).
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from processors.findings import AlertWindow
from processors.ruleskit import phrases
from processors.ruleskit.base import NOTHING, Reference, RuleMetadata, RuleTunables, fires, trap
from processors.ruleskit.base import Detector as BaseDetector
from processors.state.host import HostState

METADATA = RuleMetadata(
    id="oversized_payload",
    title="Oversized or fragmented echo request",
    description="An echo request carries more than 1024 bytes of data, or arrived fragmented.",
    severity="low",
    attack=("T1048.003", "T1095"),
    false_positives=(
        "Path MTU and jumbo-frame tests (ping -s 1472 -M do, ping -l 1472 -f, ping -s 8972).",
        "Network monitoring that measures with large probes.",
    ),
    references=(
        Reference("Snort/ET GPL ICMP Large ICMP Packet (over 800 bytes)"),
        Reference("MITRE ATT&CK T1048.003", "https://attack.mitre.org/techniques/T1048/003/"),
    ),
    triage=(
        "One burst at MTU-sized lengths from an admin's host is a path MTU test.",
        "Sustained, changing large payloads to an external peer: see icmp_tunnel.",
    ),
    status="stable",
    rev=1,
    data_requirements=(
        "Echo requests' data length and fragmented flag.",
    ),
    response=(
        "Capture the payloads and check for file content (magic bytes, compressed data).",
        "Block the peer if data leaves the network this way.",
    ),
)

EXAMPLES = (
    fires("an echo request with 1,400 data bytes", "big_echo"),
    trap("ordinary Windows, Linux and fping pings, answered", "ordinary_pings"),
)


class Tunables(RuleTunables):
    max_bytes: int = Field(1024, ge=0, description="echo data over this many bytes fires")
    flag_fragmented: bool = Field(True, description="a fragmented echo request fires")


class Detector(BaseDetector):
    metadata = METADATA

    def __init__(self, tunables: Tunables) -> None:
        super().__init__(tunables)
        self.max_bytes = tunables.max_bytes
        self.flag_fragmented = tunables.flag_fragmented

    def on_echo_request(self, host: HostState, record: dict[str, Any], _: Any):
        oversized = record["payload_len"] > self.max_bytes
        fragmented = self.flag_fragmented and record["fragmented"]
        if not (oversized or fragmented):
            return NOTHING
        facts = {"max_bytes": self.max_bytes}
        if fragmented:
            facts["fragmented"] = True  # set by any finding, so the window shows it
        return self.finding(record, facts=facts)

    def summary(self, window: AlertWindow) -> str:
        fragmented = ", some fragmented" if window.facts.get("fragmented") else ""
        return (
            f"{window.host} sent {phrases.plural(window.count, 'echo request')} with"
            f" {phrases.sizes(window)} data (limit {window.facts['max_bytes']}{fragmented})"
            f" {phrases.destinations(window)} using {phrases.identifiers(window)}"
            f"{phrases.sequences(window)} {phrases.duration(window)}"
        )

"""unknown_payload: echo requests whose data matches no known sender or tool.

Ordinary pings are recognisable by their data: Windows' "abcdefghijklmnopqrstuvwabcdefghi",
Linux's timeval and counting bytes, fping's zeros, Cisco's 0xABCD, traceroute's "HIJ...".  The
producer's classifier names the sender; this rule fires on data it could not attribute: the
classes ``unknown``, ``zeros`` of a length no tool uses (the seed's 2-byte 0x0000),
``printable_text`` (icmpsh-style command output), and ``ping_imitation``: Linux or BSD ping's
counting bytes after leading bytes that are not a send time near the capture time (random
bytes or a tunnel's data dressed as ping; also a host whose clock is more than 5 minutes off).

Windows tracert's probes carry zero bytes too; they are recognised by their stepping TTL and
dismissed (see HostState.traceroute_explains).
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from processors.findings import AlertWindow
from processors.payloads import UNATTRIBUTED, classes_of
from processors.ruleskit import phrases
from processors.ruleskit.base import NOTHING, Reference, RuleMetadata, RuleTunables, fires, trap
from processors.ruleskit.base import Detector as BaseDetector
from processors.ruleskit.ttlcheck import PayloadClassList
from processors.state.host import HostState

METADATA = RuleMetadata(
    id="unknown_payload",
    title="Echo request data from no known sender",
    description=(
        "An echo request's data matches no operating system's ping, ping tool, scanner or"
        " tunnel signature."
    ),
    severity="low",
    attack=("T1095",),
    false_positives=(
        "Vendor agents and telemetry SDKs with their own payloads (Office 365 Footprints).",
        "Load balancer and application health checks, IoT devices, network appliances.",
        "ping_imitation from a Linux/BSD host whose clock is more than 5 minutes off the"
        " sensor's (its ping's send time then looks forged).",
    ),
    references=(
        Reference("Snort/ET GPL ICMP_INFO ping signatures (what known senders look like)"),
        Reference("oddping's payload classes (oddping/payload_classes.py)"),
        Reference("MITRE ATT&CK T1095", "https://attack.mitre.org/techniques/T1095/"),
    ),
    triage=(
        "Read the evidence's payload hash and size: one fixed payload is an agent, changing"
        " payloads a channel.",
        "Find the sending process on the host; check the destinations' owners.",
        "A confirmed agent: suppress it by payload_class plus src_cidr or dst_cidr.",
    ),
    status="test",
    rev=1,
    data_requirements=(
        "Echo request data classified by the producer (payload_class: at least the first 64 "
        "data bytes captured).",
    ),
    response=(
        "Export the payloads (payload_b64) and compare them with known tools.",
        "Find the sending process; escalate if the data looks encoded or encrypted.",
    ),
)

EXAMPLES = (
    fires("the seed's zeros from a Windows host", "seed"),
    trap("ordinary Windows, Linux and fping pings, answered", "ordinary_pings"),
)


class Tunables(RuleTunables):
    classes: PayloadClassList = Field(
        default_factory=lambda: classes_of(UNATTRIBUTED),
        description="payload classes that name no sender",
    )


class Detector(BaseDetector):
    metadata = METADATA
    dismissed_by_traceroute = True

    def __init__(self, tunables: Tunables) -> None:
        super().__init__(tunables)
        self.classes = frozenset(tunables.classes)

    def fires_on(self, payload_class: str) -> bool:
        return payload_class in self.classes

    def on_echo_request(self, host: HostState, record: dict[str, Any], _: Any):
        if record["payload_class"] not in self.classes:
            return NOTHING
        if host.is_traceroute_probe(record["icmp_id"], record["ttl"], record["ts_ns"]):
            return NOTHING
        return self.finding(record)

    def summary(self, window: AlertWindow) -> str:
        return (
            f"{window.host} sent {phrases.echo_requests(window)} {phrases.duration(window)},"
            f" with data ({', '.join(window.payload_classes)}) that matches no known ping"
            f" tool or operating system"
        )

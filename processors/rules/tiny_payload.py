"""tiny_payload: echo requests carrying almost no data.

Every ordinary ping sends 32 (Windows) or 56 (Linux, BSD, fping) bytes of data.  Requests with
fewer than 12 bytes, an IPv4 total length under 40, are what the seed's analyst hunted with the
BPF ``icmp[0]=8 and ip[2:2] < 40``: there they were 2-byte requests from Office's Footprints
SDK.  Nmap host discovery and hping3 send none at all, and some crafting tools too; all of them
are worth a look unless they come from an approved scanner.

Windows domain controllers ping each other with a single "?" byte; that is ordinary between
internal addresses, so the class is exempt towards internal destinations by default (the seed's
odd requests went to the internet).  Internal means the configured ``[networks] internal`` list
(RFC 1918, CGNAT, link-local, RFC 4193 by default), not documentation or test ranges.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from processors.findings import AlertWindow
from processors.ruleskit import phrases
from processors.ruleskit.base import NOTHING, Reference, RuleMetadata, RuleTunables, fires, trap
from processors.ruleskit.base import Detector as BaseDetector
from processors.ruleskit.ttlcheck import PayloadClassList
from processors.state.host import HostState

METADATA = RuleMetadata(
    id="tiny_payload",
    title="Echo request with a tiny payload",
    description=(
        "An echo request carries fewer data bytes than any ordinary ping (under 12 bytes: IPv4"
        " total length below 40)."
    ),
    severity="low",
    attack=("T1018", "T1095"),
    false_positives=(
        "Approved scanners and monitoring (nmap -sn, hping3) from known addresses: suppress by"
        " src_cidr with a reason.",
        "Windows domain controller to domain controller pings (one '?' byte), exempt towards"
        " internal destinations by default.",
        "Office 365 Footprints telemetry (2 zero bytes) towards Microsoft addresses.",
    ),
    references=(
        Reference("SANS ISC diary (Andy Laman): tcpdump 'icmp[0]=8 and ip[2:2] < 40' (the seed)"),
        Reference("Snort/ET GPL ICMP_INFO PING NMAP (empty echo data)"),
        Reference("MITRE ATT&CK T1018", "https://attack.mitre.org/techniques/T1018/"),
    ),
    triage=(
        "Is the source an approved scanner or monitor? If so, add a suppression with a reason.",
        "Look at the destinations: internal sweep, or a few fixed internet addresses?",
        "Check the other rules on the host: unknown_payload and ttl_deviation point to crafting.",
    ),
    status="stable",
    rev=1,
    data_requirements=(
        "ICMP echo requests with their data length (payload_len).",
    ),
    response=(
        "Identify the sending process; an unapproved scanner is removed and its owner asked why.",
        "Block the destinations at the egress if they are not the organisation's own.",
    ),
)

EXAMPLES = (
    fires("the seed's 2-byte zero echoes", "seed"),
    trap("domain controllers' one-byte '?' pings to each other", "dc_question_marks"),
    trap("ordinary Windows, Linux and fping pings, answered", "ordinary_pings"),
)


class Tunables(RuleTunables):
    min_bytes: int = Field(
        12,
        ge=1,
        description="requests with less echo data than this fire (12 bytes = IPv4 total length"
        " 40 with a 20-byte header, the seed's BPF)",
    )
    exempt_to_internal: PayloadClassList = Field(
        default_factory=lambda: ["single_question"],
        description="payload classes that do not fire towards internal destinations (the"
        " [networks] internal list): Windows DC-to-DC '?' pings",
    )


class Detector(BaseDetector):
    metadata = METADATA

    def __init__(self, tunables: Tunables) -> None:
        super().__init__(tunables)
        self.min_bytes = tunables.min_bytes
        self.exempt = frozenset(tunables.exempt_to_internal)

    def on_echo_request(self, host: HostState, record: dict[str, Any], _: Any):
        if record["payload_len"] >= self.min_bytes:
            return NOTHING
        if record["payload_class"] in self.exempt and record["dst_ip"] in self.internal:
            return NOTHING
        return self.finding(record)

    def summary(self, window: AlertWindow) -> str:
        ip_len = f" (IP length {window.ip_len_min})" if window.ip_version == 4 else ""
        return (
            f"{window.host} sent {phrases.plural(window.count, 'echo request')} carrying only"
            f" {phrases.span(window.len_min, window.len_max)} bytes of data{ip_len} with"
            f" {phrases.ttls(window)} using {phrases.identifiers(window)}"
            f"{phrases.sequences(window)} {phrases.destinations(window)}"
            f" {phrases.duration(window)}"
        )

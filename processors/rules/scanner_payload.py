"""scanner_payload: echo requests shaped like a known scanner or packet-crafting tool.

Scanners and crafting tools send recognisable echoes: nmap host discovery and hping3 send no
data (hping3 writes its sequence in host byte order, so it reads 0, 256, 512 ...), nmap's OS
detection sends 120 or 150 zero bytes with sequence 295/296, nemesis 20 zero bytes with id and
sequence 0, icmpenum no data with id 666, SuperScan 8 zero bytes, and so on (the classic
Snort/ET ICMP_INFO signatures).  The producer names the class; this rule names the tool.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from processors.findings import AlertWindow
from processors.payloads import SCANNER, classes_of, describe
from processors.ruleskit import phrases
from processors.ruleskit.base import NOTHING, Reference, RuleMetadata, RuleTunables, fires, trap
from processors.ruleskit.base import Detector as BaseDetector
from processors.ruleskit.ttlcheck import PayloadClassList
from processors.state.host import HostState

METADATA = RuleMetadata(
    id="scanner_payload",
    title="Echo request from a scanner or crafting tool",
    description=(
        "An echo request carries the data or header shape of a known scanner or packet"
        " crafting tool (nmap, hping3, nemesis, icmpenum, SuperScan ...)."
    ),
    severity="medium",
    attack=("T1018", "T1595.001"),
    false_positives=(
        "Authorised vulnerability scanning and asset discovery: suppress by src_cidr, with the"
        " scan window as expiry.",
        "Administrators testing with hping3 or nmap.",
    ),
    references=(
        Reference(
            "Snort/ET GPL ICMP_INFO PING NMAP, PING Nemesis, PING icmpenum, PING SuperScan"
            " signatures",
        ),
        Reference(
            "Nmap: OS detection methods, the ICMP echo (IE) tests",
            "https://nmap.org/book/osdetect-methods.html",
        ),
        Reference("MITRE ATT&CK T1018", "https://attack.mitre.org/techniques/T1018/"),
        Reference("MITRE ATT&CK T1595.001", "https://attack.mitre.org/techniques/T1595/001/"),
    ),
    triage=(
        "Is the source an approved scanner, and is a scan scheduled now?",
        "How many destinations: see ping_sweep on the same host.",
        "Unapproved: find the user and process; scanning from a workstation is a lead.",
    ),
    status="stable",
    rev=1,
    data_requirements=(
        "Echo request data classified by the producer (payload_class).",
    ),
    response=(
        "Confirm the scan is approved (change ticket, scanner inventory); else treat as "
        "reconnaissance.",
        "Look for follow-up connections from the source to the hosts it found.",
    ),
)

EXAMPLES = (
    fires("nmap -sn: empty echo requests", "nmap_sweep"),
    trap("ordinary Windows, Linux and fping pings, answered", "ordinary_pings"),
)


class Tunables(RuleTunables):
    classes: PayloadClassList = Field(
        default_factory=lambda: classes_of(SCANNER),
        description="payload classes of scanners and crafting tools (add sniffer_pro,"
        " delphi_piette, whatsup to also report old network monitors)",
    )


def tool_name(record: dict[str, Any]) -> str:
    """The tool an echo points to, more precisely than its payload class where the header helps."""
    if record["payload_class"] == "empty":
        seq = record.get("icmp_seq") or 0
        if seq and seq % 256 == 0:
            return "hping3 (no data, sequence in host byte order)"
        return "nmap -PE/-sn or hping3 (no data)"
    return describe(record["payload_class"]).sender


class Detector(BaseDetector):
    metadata = METADATA

    def __init__(self, tunables: Tunables) -> None:
        super().__init__(tunables)
        self.classes = frozenset(tunables.classes)

    def fires_on(self, payload_class: str) -> bool:
        return payload_class in self.classes

    def on_echo_request(self, host: HostState, record: dict[str, Any], _: Any):
        if record["payload_class"] not in self.classes:
            return NOTHING
        facts = {"tool": tool_name(record)}
        if facts["tool"].startswith("hping3"):
            facts["hping3"] = True
        return self.finding(record, facts=facts)

    def summary(self, window: AlertWindow) -> str:
        tools = [
            "hping3" if name == "empty" and window.facts.get("hping3") else describe(name).sender
            for name in window.payload_classes
        ]
        tool = " and ".join(tools)
        return (
            f"{window.host} sent {phrases.plural(window.count, 'echo request')} shaped like"
            f" {tool}: {phrases.sizes(window)} data, {phrases.identifiers(window)}"
            f"{phrases.sequences(window)}, {phrases.destinations(window)}"
            f" {phrases.duration(window)}"
        )

"""MITRE ATT&CK techniques the rules cite: names and tactics, for the ECS and OCSF mappings."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Technique:
    id: str
    name: str
    tactic_id: str
    tactic: str

    @property
    def parent_id(self) -> str:
        return self.id.split(".")[0]

    @property
    def is_subtechnique(self) -> bool:
        return "." in self.id

    @property
    def url(self) -> str:
        return "https://attack.mitre.org/techniques/" + self.id.replace(".", "/") + "/"


TECHNIQUES: dict[str, Technique] = {
    t.id: t
    for t in (
        Technique("T1095", "Non-Application Layer Protocol", "TA0011", "Command and Control"),
        Technique("T1572", "Protocol Tunneling", "TA0011", "Command and Control"),
        Technique("T1018", "Remote System Discovery", "TA0007", "Discovery"),
        Technique("T1595", "Active Scanning", "TA0043", "Reconnaissance"),
        Technique("T1595.001", "Scanning IP Blocks", "TA0043", "Reconnaissance"),
        Technique("T1048", "Exfiltration Over Alternative Protocol", "TA0010", "Exfiltration"),
        Technique(
            "T1048.003", "Exfiltration Over Unencrypted Non-C2 Protocol", "TA0010", "Exfiltration"
        ),
        Technique("T1498", "Network Denial of Service", "TA0040", "Impact"),
        Technique("T1499", "Endpoint Denial of Service", "TA0040", "Impact"),
        Technique("T1499.004", "Application or System Exploitation", "TA0040", "Impact"),
        Technique("T1498.001", "Direct Network Flood", "TA0040", "Impact"),
        Technique("T1498.002", "Reflection Amplification", "TA0040", "Impact"),
    )
}


def technique(technique_id: str) -> Technique:
    return TECHNIQUES[technique_id]

"""fragment_anomaly: fragments that no IP stack sends on its own.

Reassembly drops what it cannot or must not put together, and that is exactly where attacks
hide: overlapping fragments whose data differ (teardrop, and IDS evasion: the target and the
sensor resolve the overlap differently), fragments adding up to more than 65,535 bytes (ping of
death), a datagram in more than 64 fragments (fragment floods, reassembly exhaustion), and a
first fragment too small to hold the headers (RFC 1858 tiny fragments: filters see no header).
The producer's reassembly (producer/decode/fragments.py) reports each as a ``fragment_anomaly``
record keyed by the fragments' sender; this rule raises it, one alert per anomaly kind (the
key) per window, the evidence notes saying which anomaly, how many fragments and what size.
"""

from __future__ import annotations

from typing import Any

from processors.findings import AlertWindow
from processors.ruleskit import phrases
from processors.ruleskit.base import Reference, RuleMetadata, RuleTunables, fires, trap
from processors.ruleskit.base import Detector as BaseDetector
from processors.state.host import HostState

METADATA = RuleMetadata(
    id="fragment_anomaly",
    title="IP fragment anomaly",
    description=(
        "Fragments overlap with different data, add up to more than 65,535 bytes, number more"
        " than 64 for one datagram, or start with a tiny first fragment."
    ),
    severity="medium",
    attack=("T1499.004", "T1095"),
    false_positives=(
        "Broken or exotic stacks and middleboxes that re-fragment badly (rare: look for one"
        " source and one kind of anomaly, all day).",
        "Links with an MTU under 84 bytes make first fragments under 64 bytes.",
    ),
    references=(
        Reference(
            "RFC 1858: security considerations for IP fragment filtering (tiny and"
            " overlapping fragments)",
            "https://www.rfc-editor.org/rfc/rfc1858",
        ),
        Reference(
            "Snort frag3 / Suricata defrag events: overlap, teardrop, too large, tiny fragment",
        ),
        Reference("MITRE ATT&CK T1499.004", "https://attack.mitre.org/techniques/T1499/004/"),
        Reference(
            "RFC 7112: implications of oversized IPv6 header chains",
            "https://www.rfc-editor.org/rfc/rfc7112",
        ),
    ),
    triage=(
        "Which anomaly (the alert key and the evidence notes) and towards which destinations?",
        "Overlap or oversized towards your hosts: a DoS or evasion attempt; is the target"
        " patched, and did anything else arrive from the source?",
        "Too many or tiny fragments from one source: a fragmentation tool (fragroute,"
        " hping3 -f); check the source's other alerts.",
    ),
    status="experimental",
    rev=1,
    data_requirements=(
        "fragment_anomaly records from the producer's IP reassembly on the sensor (fragments "
        "must reach the sensor).",
    ),
    response=(
        "Check the target for the fragment-handling flaw the anomaly exploits (patch level).",
        "Drop overlapping and oversized fragments at the perimeter.",
    ),
)

EXAMPLES = (
    fires("fragments reassembling past 65,535 bytes", "oversized_reassembly", zoo=False),
    trap("ordinary Windows, Linux and fping pings, answered", "ordinary_pings"),
)

#: anomaly -> how the summary names it
NAMES = {
    "overlap": "overlapping fragments with different data",
    "oversized": "fragments adding up to more than 65,535 bytes",
    "too_many_fragments": "datagrams in more than 64 fragments",
    "tiny_first_fragment": "tiny first fragments",
}


class Tunables(RuleTunables):
    pass


class Detector(BaseDetector):
    metadata = METADATA

    def on_fragment_anomaly(self, host: HostState, record: dict[str, Any], _: Any):
        anomaly = record["anomaly"]
        size = record.get("size")
        # what a window reads of an ICMP record: the fragment's data length, no payload class
        view = {**record, "payload_len": record["fragment_len"], "payload_class": "ip_fragment"}
        facts = {"anomaly": anomaly, "max_fragments": record["fragments"]}
        if size is not None:
            facts["max_claimed_size"] = size

        def note() -> str:
            claimed = f", claiming {size:,} bytes" if size is not None else ""
            held = phrases.plural(record["fragments"], "fragment")
            return (
                f"{anomaly}: IP id {record['ip_id']}, {held} held{claimed},"
                f" this one {record['fragment_len']} bytes"
            )

        return self.finding(view, anomaly, facts, note)

    def summary(self, window: AlertWindow) -> str:
        facts = window.facts
        claimed = (
            f", claiming up to {facts['max_claimed_size']:,} bytes"
            if "max_claimed_size" in facts
            else ""
        )
        return (
            f"{window.host} sent {NAMES.get(window.key, window.key)}"
            f" ({phrases.plural(window.count, 'time')}, up to"
            f" {phrases.plural(facts['max_fragments'], 'fragment')} in one datagram{claimed})"
            f" {phrases.destinations(window)} with {phrases.ttls(window)}"
            f" {phrases.duration(window)}"
        )

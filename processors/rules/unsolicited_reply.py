"""unsolicited_reply: many echo replies reach a host that sent no matching request.

Replies without requests are how reply-only channels and reflection floods (smurf victims)
look.  They are also what asymmetric routing and capture loss produce all day, which is why Zeek
switched its unpaired-reply notice off.  So this rule is quiet unless the sensor demonstrably
sees the host's own outbound traffic: the same sensor must have seen the host send (echo
requests or TCP SYNs) recently.  Only then do many unmatched replies mean something.

A reply is judged when it is known to be unanswered (event ``reply_unanswered``,
processors/state/pairing.py): no request came for it within ``sensor_late_bound_s`` of the
host's own time, because another sensor's records may bring its request late.  So the findings
come that much after the replies (sooner when more replies wait than the engine keeps), in
capture-time order, and are the same whichever sensor's records arrived first.  Whether the
sensor saw the host send is asked of the moment the reply came.

Scratch state (``HostState.scratch["unsolicited_reply"]``): ``unmatched``, the capture times of
the latest unanswered replies (at most ``min_replies``).
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
    id="unsolicited_reply",
    title="Echo replies without requests",
    description=(
        "A host receives many echo replies matching no request it sent, at a sensor that sees"
        " the host's own outbound traffic."
    ),
    severity="medium",
    attack=("T1095", "T1498.002"),
    false_positives=(
        "Asymmetric routing where the sensor sees some but not all of the host's outbound paths.",
        "Capture loss on the outbound direction (check the sensor's drop counters).",
        "Replies to requests older than the request memory (16 per identifier).",
    ),
    references=(
        Reference("Zeek: unpaired echo reply notice, disabled by default for asymmetric routing"),
        Reference("MITRE ATT&CK T1498.002", "https://attack.mitre.org/techniques/T1498/002/"),
    ),
    triage=(
        "Does the sensor see the host's outbound traffic on this path (SPAN/TAP placement)?",
        "Many responders at once: the host's address is being spoofed (reflection).",
        "One responder with changing data: a reply-borne channel; check icmp_tunnel.",
    ),
    status="test",
    rev=1,
    data_requirements=(
        "The host's outbound traffic (TCP SYN observations or its echo requests) seen by the "
        "same sensor; without it the rule stays quiet (asymmetric routing).",
    ),
    response=(
        "Check whether the host is a reflection or flood target: block the responders upstream.",
        "If the replies carry data, look for an implant reading them on the host.",
    ),
)

EXAMPLES = (
    fires(
        "replies with no request to a host whose outbound traffic the sensor sees",
        "lone_replies",
    ),
    trap("asymmetric routing: the sensor never sees the host send", "lone_replies_unseen_host"),
    trap("ordinary Windows, Linux and fping pings, answered", "ordinary_pings"),
)


class Tunables(RuleTunables):
    min_replies: int = Field(
        10, ge=1, description="unmatched replies within within_s before findings start"
    )
    within_s: float = Field(60.0, gt=0, description="span the unmatched replies must fall in")
    outbound_seen_within_s: float = Field(
        300.0,
        gt=0,
        description="the same sensor must have seen the host send (echo requests, TCP SYNs)"
        " within this many seconds; otherwise asymmetric routing explains the replies and the"
        " rule stays quiet",
    )


class Detector(BaseDetector):
    metadata = METADATA

    def __init__(self, tunables: Tunables) -> None:
        super().__init__(tunables)
        self.within_ns = int(tunables.within_s * 1e9)
        self.min_replies = tunables.min_replies
        self.outbound_ns = int(tunables.outbound_seen_within_s * 1e9)

    def on_reply_unanswered(self, host: HostState, record: dict[str, Any],
                            last_outbound: int | None):
        ts = record["ts_ns"]
        if last_outbound is None or ts - last_outbound > self.outbound_ns:
            return NOTHING
        scratch = host.scratch.get(self.rule_id)
        if scratch is None:
            scratch = host.scratch[self.rule_id] = {"unmatched": []}
        unmatched = scratch["unmatched"]
        unmatched.append(ts)
        if len(unmatched) > self.min_replies:
            del unmatched[0]
        if len(unmatched) < self.min_replies or ts - unmatched[0] > self.within_ns:
            return NOTHING
        return self.finding(record)

    def summary(self, window: AlertWindow) -> str:
        # Findings start at the min_replies-th unmatched reply: the ones before it count too.
        at_least = window.count + self.tunables.min_replies - 1
        return (
            f"{window.host} received at least {at_least} echo replies from"
            f" {phrases.plural(len(window.dst_ips), 'responder')} that answer no request"
            f" the sensor saw, although {', '.join(window.sensor_ids)} sees the host's own"
            f" outbound traffic, using {phrases.identifiers(window)}{phrases.sequences(window)}"
            f" {phrases.duration(window)}"
        )

"""reply_mismatch: an echo reply whose data differs from the request it answers.

RFC 792: "The data received in the echo message must be returned in the echo reply message."
A reply that carries other data is a channel: icmpsh's server sends commands in replies while
the client sends output in requests, ptunnel's proxy answers with its own data.  Replies are
matched to remembered requests by identifier and sequence (a broadcast ping's repliers were
never the request's destination, so the responder is preferred but not required).

When the reply's capture was truncated (snaplen; ``icmp_checksum_ok`` is null) only the lengths
are compared.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from processors.findings import AlertWindow
from processors.rules import phrases
from processors.rules.base import NOTHING, RuleMetadata, RuleTunables
from processors.rules.base import Detector as BaseDetector
from processors.state.host import HostState, SeenRequest

METADATA = RuleMetadata(
    id="reply_mismatch",
    title="Echo reply data differs from its request",
    description=(
        "An echo reply to the host carries data other than the request it answers, which RFC"
        " 792 forbids: the signature of reply-borne channels such as icmpsh and ptunnel."
    ),
    severity="high",
    attack=("T1095", "T1572"),
    false_positives=(
        "Middleboxes or broken stacks that rewrite or truncate echo data.",
        "Capture loss or truncation that differs between the two directions.",
    ),
    references=(
        "https://www.rfc-editor.org/rfc/rfc792",
        "icmpsh: commands in echo replies, output in echo requests",
        "https://attack.mitre.org/techniques/T1572/",
    ),
    triage=(
        "Look at both payloads in the capture: commands or file data in the replies?",
        "Who is the responder? An internet host answering with its own data is a C2 lead.",
        "Check icmp_tunnel on the same host.",
    ),
)


class Tunables(RuleTunables):
    compare: Literal["sha256", "length"] = Field(
        "sha256",
        description="what the reply must share with its request: the data itself (sha256) or"
        " only its length (where a middlebox rewrites echo data)",
    )


class Detector(BaseDetector):
    metadata = METADATA

    def __init__(self, tunables: Tunables) -> None:
        super().__init__(tunables)
        self.compare = tunables.compare

    def on_echo_reply(self, host: HostState, record: dict[str, Any], request: SeenRequest | None):
        if request is None:
            return NOTHING
        same_length = record["payload_len"] == request.payload_len
        if same_length and (
            self.compare == "length"
            or record["icmp_checksum_ok"] is None
            or record["payload_sha256"] == request.payload_sha256
        ):
            return NOTHING

        def note() -> str:  # formatted only for the replies kept as evidence
            return (
                f"reply seq {record['icmp_seq']}: {record['payload_len']} bytes"
                f" ({record['payload_class']}) for a request of {request.payload_len} bytes"
                f" ({request.payload_class}, sha256 {request.payload_sha256[:16]})"
            )

        return self.finding(
            record, facts={"request_payload_class": request.payload_class}, note=note
        )

    def summary(self, window: AlertWindow) -> str:
        return (
            f"{window.host} received {phrases.plural(window.count, 'echo reply', 'echo replies')}"
            f" from {', '.join(window.dst_ips[:3])}{'...' if len(window.dst_ips) > 3 else ''}"
            f" whose data ({', '.join(window.payload_classes)}, {phrases.sizes(window)})"
            f" differs from {'the request it answers' if window.count == 1 else 'the requests they answer'}"
            f" ({window.facts.get('request_payload_class')}) using {phrases.identifiers(window)}"
            f"{phrases.sequences(window)} {phrases.duration(window)}"
        )

"""reply_mismatch: an echo reply whose data differs from the request it answers.

RFC 792: "The data received in the echo message must be returned in the echo reply message."
A reply that carries other data is a channel: icmpsh's server sends commands in replies while
the client sends output in requests, ptunnel's proxy answers with its own data.  Replies are
matched to remembered requests by identifier and sequence (a broadcast ping's repliers were
never the request's destination, so the responder is preferred but not required).

Lengths come from the IP headers and are always compared.  The data is compared only over the
bytes both sides' captures kept (``payload_captured_len``; the snap length may cut either):
whole when both are whole; the first N bytes when one side kept only N of them and the other at
least N of which the record's preview (``payload_b64``, 256 bytes) has them; not at all when the
reply kept fewer bytes than the request (the engine remembers a request's hash, not its bytes).
A finding from a partial comparison says so in its evidence note.
"""

from __future__ import annotations

import base64
from hashlib import sha256
from typing import Any, Literal

from pydantic import Field

from processors.findings import AlertWindow
from processors.ruleskit import phrases
from processors.ruleskit.base import NOTHING, Reference, RuleMetadata, RuleTunables, fires, trap
from processors.ruleskit.base import Detector as BaseDetector
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
        Reference(
            "RFC 792: Internet Control Message Protocol",
            "https://www.rfc-editor.org/rfc/rfc792",
        ),
        Reference(
            "icmpsh: commands in echo replies, output in echo requests",
            "https://github.com/bdamele/icmpsh",
        ),
        Reference("MITRE ATT&CK T1572", "https://attack.mitre.org/techniques/T1572/"),
    ),
    triage=(
        "Look at both payloads in the capture: commands or file data in the replies?",
        "Who is the responder? An internet host answering with its own data is a C2 lead.",
        "Check icmp_tunnel on the same host.",
    ),
    status="test",
    rev=1,
    data_requirements=(
        "Both directions: the requests and the replies to them, seen by the same sensor.",
    ),
    response=(
        "Capture the full exchange and decode both directions.",
        "Isolate the host and block the peer if the data is a command channel.",
    ),
)

EXAMPLES = (
    fires("icmpsh: replies carry other data than the requests", "icmpsh"),
    trap("ordinary Windows, Linux and fping pings, answered", "ordinary_pings"),
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
        compared = None  # bytes compared when fewer than all
        if record["payload_len"] == request.payload_len:
            if self.compare == "length" or record["payload_sha256"] == request.payload_sha256:
                return NOTHING
            compared = _common_prefix(record, request)
            if compared is not None and compared <= 0:
                return NOTHING  # both kept the same bytes and they agree, or nothing to compare

        def note() -> str:  # formatted only for the replies kept as evidence
            partial = (
                f"; compared the first {compared} bytes, all both captures kept"
                if compared is not None
                else ""
            )
            return (
                f"reply seq {record['icmp_seq']}: {record['payload_len']} bytes"
                f" ({record['payload_class']}) for a request of {request.payload_len} bytes"
                f" ({request.payload_class}, sha256 {request.payload_sha256[:16]}){partial}"
            )

        return self.finding(
            record, facts={"request_payload_class": request.payload_class}, note=note
        )

    def on_reply_paired_late(self, host: HostState, record: dict[str, Any],
                             request: SeenRequest):
        """A reply processed before its request (another sensor's, late): judged as on time."""
        return self.on_echo_reply(host, record, request)

    def summary(self, window: AlertWindow) -> str:
        return (
            f"{window.host} received {phrases.plural(window.count, 'echo reply', 'echo replies')}"
            f" from {', '.join(window.dst_ips[:3])}{'...' if len(window.dst_ips) > 3 else ''}"
            f" whose data ({', '.join(window.payload_classes)}, {phrases.sizes(window)})"
            f" differs from {'the request it answers' if window.count == 1 else 'the requests they answer'}"
            f" ({window.facts.get('request_payload_class')}) using {phrases.identifiers(window)}"
            f"{phrases.sequences(window)} {phrases.duration(window)}"
        )


PREVIEW_BYTES = 256  # what payload_b64 holds of the captured data


def _captured(record: dict[str, Any]) -> int | None:
    """Data bytes a record's capture kept; None when it cannot be told (an older producer's
    truncated record with 256 or more bytes kept)."""
    kept = record.get("payload_captured_len")
    if kept is not None:
        return kept
    if record["icmp_checksum_ok"] is not None:
        return record["payload_len"]  # the checksum was verified: the data is whole
    preview = len(base64.b64decode(record["payload_b64"]))
    return preview if preview < PREVIEW_BYTES else None


def _common_prefix(record: dict[str, Any], request: SeenRequest) -> int | None:
    """For a reply as long as its request but with another hash: None when both are whole
    (a real difference); else the number of leading bytes both kept that differ somewhere, or 0
    when they agree or cannot be compared.  Called only for that rare case."""
    length = request.payload_len
    kept_request = length if request.captured_len is None else request.captured_len
    kept_reply = _captured(record)
    if kept_request == length and kept_reply == length:
        return None
    if kept_reply is None or kept_reply < kept_request or kept_request > PREVIEW_BYTES:
        return 0  # the request's leading bytes are not remembered: only lengths compare
    if kept_reply == kept_request:
        return kept_request  # both hashes cover the same bytes, and they differ
    head = base64.b64decode(record["payload_b64"])[:kept_request]
    return 0 if sha256(head).hexdigest() == request.payload_sha256 else kept_request

"""Late pairing: a reply processed before the request it answers.

One sensor captures a request before its reply, so the engine, fed one sensor's records in
capture-time order, always has the request remembered when the reply comes.  Across sensors it
need not: the edge tap may see only the replies and the access layer only the requests, and
when the access layer's sensor catches up after an outage its requests are processed after the
edge's replies to them.  On time, such a reply pairs with its request (reply_mismatch compares
the data, unsolicited_reply leaves it alone); processed first, it finds no request.

So a reply that finds no request is remembered, per host (``HostState.scratch["late_replies"]``,
plain JSON, exported with the host): the fields the rules judging a pair and the alert window
read, as a list (``KEPT``, about 230 bytes as JSON), the newest ``REPLIES`` while the engine
has seen one sensor (a second may start late), ``REPLIES_SEVERAL`` once it has seen several
(or with ``processor.several_sensors``), and only within ``sensor_late_bound_s`` of the
request that could answer it.  When a request arrives that such a reply answers (same ICMP
identifier and sequence, the reply from the request's destination, captured after the request
and within the late bound), the two pair up then: the rules that judge the pair
(``LATE_RULES``: reply_mismatch) run on the reply with its request, and what
unsolicited_reply counted of the reply is taken back while it is still counting towards a
finding (its ``unmatched`` list), so while fewer than ``min_replies`` were counted the final
alerts are the on-time order's.  A finding unsolicited_reply already made stays: at least
``min_replies`` replies had come unanswered at a sensor that sees the host send.  Pairs made
late are counted (``EngineStats.late_pairings``).

Not re-judged: icmp_tunnel's share of replies whose data differs from their requests counts a
reply paired late as unpaired (its packet and byte counts are the same either way).
"""

from __future__ import annotations

from typing import Any

#: where the remembered replies live in the host's scratch (exported with the host)
SCRATCH = "late_replies"
#: replies remembered per host while the engine has seen one sensor
REPLIES = 16
#: once it has seen several: a sensor a whole capture late may bring many requests
REPLIES_SEVERAL = 64
#: the rules run again on a reply once its request is known
LATE_RULES = frozenset({"reply_mismatch"})
#: what a remembered reply keeps, as a JSON list in this order (then its data preview when
#: the snap length cut the capture): what the rules judging a pair, the alert window and its
#: evidence read
KEPT = (
    "ts_ns", "frame", "sensor_id", "src_ip", "dst_ip", "initiator_ip", "ip_version",
    "icmp_type", "icmp_code", "icmp_id", "icmp_seq", "ttl", "ip_total_len", "payload_len",
    "payload_captured_len", "payload_class", "payload_sha256", "icmp_checksum_ok",
    "community_id",
)
_TS, _SRC, _ID, _SEQ = (KEPT.index(n) for n in ("ts_ns", "src_ip", "icmp_id", "icmp_seq"))
#: where unsolicited_reply keeps the capture times of its latest unmatched replies
UNSOLICITED = "unsolicited_reply"


def remember(host: Any, record: dict[str, Any], several: bool) -> None:
    """A reply found no request: remember it, in case its request is processed later."""
    replies = host.scratch.get(SCRATCH)
    if replies is None:
        replies = host.scratch[SCRATCH] = []
    row = [record.get(name) for name in KEPT]
    if record.get("payload_captured_len", -1) != record["payload_len"]:
        row.append(record["payload_b64"])  # reply_mismatch compares a cut capture by it
    replies.append(row)
    limit = REPLIES_SEVERAL if several else REPLIES
    if len(replies) > limit:
        del replies[: len(replies) - limit]


def answered(host: Any, request: dict[str, Any], late_bound_ns: int) -> list[dict[str, Any]]:
    """The remembered replies that request answers, as records, taken out of the memory (in the
    order they were processed); replies the late bound no longer reaches are forgotten on the
    way."""
    replies = host.scratch.get(SCRATCH)
    if not replies:
        return []
    ts = request["ts_ns"]
    icmp_id, seq, responder = request["icmp_id"], request["icmp_seq"], request["dst_ip"]
    found, kept = [], []
    for row in replies:
        if host.last_ns - row[_TS] > late_bound_ns:
            continue  # too old for a request to come for it within the bound
        if (
            row[_ID] == icmp_id
            and row[_SEQ] == seq
            and row[_SRC] == responder
            and 0 <= row[_TS] - ts <= late_bound_ns
        ):
            found.append(_record(row))
        else:
            kept.append(row)
    if found or len(kept) != len(replies):
        if kept:
            host.scratch[SCRATCH] = kept
        else:
            del host.scratch[SCRATCH]
    return found


def _record(row: list[Any]) -> dict[str, Any]:
    record = dict(zip(KEPT, row))
    record["kind"] = "icmp"
    record["payload_b64"] = row[len(KEPT)] if len(row) > len(KEPT) else ""
    return record


def take_back_unsolicited(host: Any, reply: dict[str, Any]) -> bool:
    """Take the reply out of unsolicited_reply's unmatched replies, as if it had been paired on
    time; True when it was counted there."""
    scratch = host.scratch.get(UNSOLICITED)
    unmatched = scratch.get("unmatched") if scratch else None
    if unmatched and reply["ts_ns"] in unmatched:
        unmatched.remove(reply["ts_ns"])
        return True
    return False

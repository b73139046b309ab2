"""Late pairing: a reply processed before the request it answers.

One sensor captures a request before its reply, so the engine, fed one sensor's records in
capture-time order, always has the request remembered when the reply comes.  Across sensors it
need not: the edge tap may see only the replies and the access layer only the requests, and
when the access layer's sensor catches up after an outage its requests are processed after the
edge's replies to them.  On time, such a reply pairs with its request (reply_mismatch compares
the data, icmp_tunnel counts whether the reply echoes it, unsolicited_reply leaves it alone);
processed first, it finds no request.

So a reply that finds no request waits, per host (``HostState.scratch["late_replies"]``, plain
JSON, exported with the host), for a request to answer it, and is judged *unanswered* only
when none can come any more.  A waiting reply keeps the fields the rules and the alert window
read, as a list (``KEPT``, about 230 bytes as JSON), then its data preview when the snap length
cut the capture (else null), then when its sensor had last seen the host send (else null:
unsolicited_reply asks that of the moment the reply came).  The list is in capture-time order
(ties by sensor, responder, identifier and sequence), so the replies leave it in the same order
whichever sensor's records came first.

* A request that such a reply answers (same ICMP identifier and sequence, the reply from the
  request's destination, captured after the request and within the late bound) pairs with it
  when it comes: event ``reply_paired_late`` (the reply, the request as remembered), before
  the request's own rules run: reply_mismatch compares the two, icmp_tunnel counts the reply's
  data against the request's as on time.  Pairs made late are counted
  (``EngineStats.late_pairings``).
* A reply the host's own time has passed by more than ``sensor_late_bound_s``, or every
  waiting reply when the host's windows all close (end of input, idle expiry, eviction), is
  unanswered: event ``reply_unanswered`` (the reply, when its sensor had last seen the host
  send), which unsolicited_reply counts.  A request more than the bound behind the host's time
  is a late record past the bound (counted), so on time it would not have been there either.
* At most ``REPLIES`` replies wait while the engine has seen one sensor (a second may start
  late), ``REPLIES_SEVERAL`` once it has seen several (or with ``processor.several_sensors``);
  past that the earliest is judged unanswered at once.  This and the host's request memory
  (16 requests per identifier) bound the guarantee: within them, and within the late bound,
  every arrival order gives the alerts of the on-time order.

What this costs an on-time stream: unsolicited_reply's findings come when the late bound has
passed in the host's own time (or the memory is full, or its windows close), not at the reply;
a stream whose input has gone quiet shows in its open versions only the unanswered replies
already judged.
"""

from __future__ import annotations

from bisect import insort
from typing import Any

#: where the waiting replies live in the host's scratch (exported with the host)
SCRATCH = "late_replies"
#: replies waiting per host while the engine has seen one sensor
REPLIES = 16
#: once it has seen several: a sensor a whole capture late may bring many requests
REPLIES_SEVERAL = 64
#: what a waiting reply keeps, as a JSON list in this order (then its data preview when the
#: snap length cut the capture, else null; then when its sensor last saw the host send, else
#: null): what the rules judging a reply, the alert window and its evidence read
KEPT = (
    "ts_ns", "frame", "sensor_id", "src_ip", "dst_ip", "initiator_ip", "ip_version",
    "icmp_type", "icmp_code", "icmp_id", "icmp_seq", "ttl", "ip_total_len", "payload_len",
    "payload_captured_len", "payload_class", "payload_sha256", "icmp_checksum_ok",
    "community_id",
)
_TS, _SENSOR, _SRC, _ID, _SEQ = (
    KEPT.index(n) for n in ("ts_ns", "sensor_id", "src_ip", "icmp_id", "icmp_seq"))
_PREVIEW, _OUTBOUND = len(KEPT), len(KEPT) + 1


def _order(row: list[Any]) -> tuple:
    """The order replies are judged in: capture time, then what tells two apart."""
    return (row[_TS], row[_SENSOR], row[_SRC], row[_ID], row[_SEQ])


def remember(host: Any, record: dict[str, Any], several: bool) -> list[list[Any]]:
    """A reply found no request: let it wait for one.  Returns the replies that no longer fit
    (the earliest), to be judged unanswered now."""
    replies = host.scratch.get(SCRATCH)
    if replies is None:
        replies = host.scratch[SCRATCH] = []
    row = [record.get(name) for name in KEPT]
    cut = record.get("payload_captured_len", -1) != record["payload_len"]
    # reply_mismatch compares a cut capture by its preview
    row.append(record["payload_b64"] if cut else None)
    row.append(host.outbound_sensors.get(record["sensor_id"]))
    if not replies or _order(replies[-1]) <= _order(row):
        replies.append(row)  # one sensor's replies come in capture-time order
    else:
        insort(replies, row, key=_order)
    limit = REPLIES_SEVERAL if several else REPLIES
    if len(replies) <= limit:
        return []
    over = replies[: len(replies) - limit]
    del replies[: len(replies) - limit]
    return over


def answered(host: Any, request: dict[str, Any], late_bound_ns: int) -> list[dict[str, Any]]:
    """The waiting replies that request answers, as records, taken out (in judging order)."""
    replies = host.scratch.get(SCRATCH)
    if not replies:
        return []
    ts = request["ts_ns"]
    icmp_id, seq, responder = request["icmp_id"], request["icmp_seq"], request["dst_ip"]
    found, kept = [], []
    for row in replies:
        if (
            row[_ID] == icmp_id
            and row[_SEQ] == seq
            and row[_SRC] == responder
            and 0 <= row[_TS] - ts <= late_bound_ns
        ):
            found.append(record_of(row))
        else:
            kept.append(row)
    if found:
        if kept:
            host.scratch[SCRATCH] = kept
        else:
            del host.scratch[SCRATCH]
    return found


def unanswered(host: Any, before_ns: int | None) -> list[list[Any]]:
    """The waiting replies captured before before_ns (None: all of them), taken out in judging
    order: no request can come for them within the late bound any more."""
    replies = host.scratch.get(SCRATCH)
    if not replies:
        return []
    if before_ns is None:
        del host.scratch[SCRATCH]
        return replies
    n = 0
    while n < len(replies) and replies[n][_TS] < before_ns:
        n += 1
    if not n:
        return []
    over = replies[:n]
    if n == len(replies):
        del host.scratch[SCRATCH]
    else:
        del replies[:n]
    return over


def waiting_since(host: Any) -> int | None:
    """The capture time of the earliest waiting reply, or None."""
    replies = host.scratch.get(SCRATCH)
    return replies[0][_TS] if replies else None


def record_of(row: list[Any]) -> dict[str, Any]:
    """A waiting reply as the record the rules read."""
    record = dict(zip(KEPT, row))
    record["kind"] = "icmp"
    preview = row[_PREVIEW] if len(row) > _PREVIEW else None
    record["payload_b64"] = preview or ""
    return record


def last_outbound(row: list[Any]) -> int | None:
    """When the reply's sensor had last seen the host send, when the reply came (None: never,
    or a reply saved by a version that judged it at once)."""
    return row[_OUTBOUND] if len(row) > _OUTBOUND else None

"""Phrases the rules' one-sentence summaries are made of, written as an analyst would.

The shape to aim for: "10.20.0.15 sent 2-byte echo requests with TTL 28 (initial 30 at 2 hops;
its other traffic starts at 128) using identifier 0x0001 with sequence 40-48 spread over
3 destinations".  Facts, numbers, no adjectives.
"""

from __future__ import annotations

from datetime import datetime, timezone

from processors.findings import AlertWindow

NS_PER_S = 1_000_000_000


def hex_id(icmp_id: int) -> str:
    return f"0x{icmp_id:04x}"


def plural(count: int, noun: str, nouns: str | None = None) -> str:
    return f"{count} {noun if count == 1 else (nouns or noun + 's')}"


def span(lo: int | None, hi: int | None) -> str:
    return f"{lo}" if lo == hi else f"{lo}-{hi}"


def sizes(window: AlertWindow) -> str:
    """'2-byte' or '2- to 40-byte'."""
    if window.len_min == window.len_max:
        return f"{window.len_max}-byte"
    return f"{window.len_min}- to {window.len_max}-byte"


def ttls(window: AlertWindow) -> str:
    return f"TTL {span(window.ttl_min, window.ttl_max)}"


def identifiers(window: AlertWindow) -> str:
    ids = window.icmp_ids
    if not ids:
        return "no identifier"
    if len(ids) == 1:
        return f"identifier {hex_id(ids[0])}"
    if len(ids) <= 3 and not window.icmp_ids_truncated:
        return "identifiers " + ", ".join(hex_id(i) for i in ids)
    more = "+" if window.icmp_ids_truncated else ""
    return f"{len(ids)}{more} identifiers"


def sequences(window: AlertWindow) -> str:
    if window.seq_min is None:
        return ""
    return f" with sequence {span(window.seq_min, window.seq_max)}"


def destinations(window: AlertWindow, single: str = "to", many: str = "spread over") -> str:
    dsts = window.dst_ips
    if len(dsts) == 1:
        return f"{single} {dsts[0]}"
    more = "+" if window.dst_ips_truncated else ""
    return f"{many} {len(dsts)}{more} destinations"


def duration(window: AlertWindow) -> str:
    """'within 8 s', 'over 12 min', or 'at 09:15:01 UTC' for a single moment."""
    if window.first_ns == window.last_ns:
        moment = datetime.fromtimestamp(window.first_ns // NS_PER_S, timezone.utc)
        return f"at {moment:%H:%M:%S} UTC"
    seconds = (window.last_ns - window.first_ns) / NS_PER_S
    if seconds < 1:
        return "within a second"
    if seconds < 120:
        return f"within {seconds:.0f} s"
    return f"over {seconds / 60:.0f} min"


def article(number: int) -> str:
    """'a' or 'an' before a number as it is read: an 8-byte, an 18-byte, a 2-byte."""
    digits = str(number)
    lead = digits[: (len(digits) - 1) % 3 + 1]  # the part read before "thousand"
    return "an" if digits.startswith("8") or lead in ("11", "18") else "a"


def echo_requests(window: AlertWindow, ttl_note: str = "") -> str:
    """'2-byte echo requests with TTL 28<note> using identifier 0x0001 with sequence 40-48
    spread over 3 destinations' ('a 2-byte echo request ...' for one)."""
    what = (
        f"{article(window.len_min)} {sizes(window)} echo request"
        if window.count == 1
        else f"{sizes(window)} echo requests"
    )
    return (
        f"{what} with {ttls(window)}{ttl_note} using {identifiers(window)}"
        f"{sequences(window)} {destinations(window)}"
    )

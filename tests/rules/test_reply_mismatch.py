"""reply_mismatch: the rule's own tests (its examples run in test_examples.py)."""

from __future__ import annotations

from recordkit import (
    at,
    data_of,
    fired,
    ODD,
    reply,
    reply_to,
    request,
)


# -- reply_mismatch ---------------------------------------------------------------------------


def test_reply_mismatch_fires_when_reply_data_differs():
    req = request(ODD, "198.51.100.66", at(1), icmp_id=77, seq=1, payload_class="windows", ttl=126)
    bad = reply_to(req, payload_class="printable_text", data=b"net user /domain")
    [alert] = fired([req, bad])[0]["reply_mismatch"]
    assert alert.doc["icmp_types"] == [0]
    assert "differs from the request" in alert.doc["summary"]
    assert "note" in alert.doc["evidence"][0]


def test_reply_mismatch_is_quiet_for_honest_and_truncated_replies():
    req = request(ODD, "198.51.100.66", at(1), icmp_id=77, seq=1, payload_class="windows", ttl=126)
    honest = reply_to(req)
    truncated = reply_to(req, captured=10)  # snapped: 10 of its 32 bytes kept
    assert "reply_mismatch" not in fired([req, honest, truncated])[0]


def test_reply_mismatch_can_compare_lengths_only():
    req = request(ODD, "198.51.100.66", at(1), icmp_id=77, seq=1, payload_class="windows", ttl=126)
    rewritten = reply_to(req, data=b"Z" * 32)
    assert "reply_mismatch" in fired([req, rewritten])[0]
    assert "reply_mismatch" not in fired([req, rewritten], {"reply_mismatch": {"compare": "length"}})[0]


def test_reply_matches_a_broadcast_ping_from_any_responder():
    req = request(ODD, "10.20.255.255", at(1), icmp_id=5, seq=1, payload_class="linux_iputils", ttl=64)
    replies = [reply(f"10.20.0.{n}", ODD, at(1.01), icmp_id=5, seq=1, data=data_of(req),
                     payload_class="linux_iputils") for n in range(30, 45)]
    out, _ = fired([req] + replies)
    assert "reply_mismatch" not in out and "unsolicited_reply" not in out

"""oversized_payload: the rule's own tests (its examples run in test_examples.py)."""

from __future__ import annotations

from recordkit import (
    at,
    fired,
    ODD,
    request,
)

from samples import craft


# -- oversized_payload ------------------------------------------------------------------------


def test_oversized_payload_fires_over_1024_bytes_and_on_fragments():
    big = request(ODD, "198.51.100.1", at(1), payload_class="zeros", data=bytes(1400), ttl=126)
    frag = request("10.20.0.16", "198.51.100.1", at(1), payload_class="windows",
                   data=craft.payload_windows(128), ttl=126, fragmented=True)
    out, _ = fired([big, frag])
    by_host = {a.src_ip: a for a in out["oversized_payload"]}
    assert set(by_host) == {ODD, "10.20.0.16"}
    assert "some fragmented" in by_host["10.20.0.16"].doc["summary"]


def test_oversized_payload_is_quiet_up_to_the_limit():
    ok = request(ODD, "198.51.100.1", at(1), payload_class="windows", data=craft.payload_windows(1024),
                 ttl=126)  # ping -l 1024: 1024 bytes of Windows' alphabet
    assert "oversized_payload" not in fired([ok])[0]

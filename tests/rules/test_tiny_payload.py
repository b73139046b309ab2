"""tiny_payload: the rule's own tests (its examples run in test_examples.py)."""

from __future__ import annotations

import pytest
from recordkit import (
    at,
    fired,
    ODD,
    ping_run,
    request,
)


# -- tiny_payload -----------------------------------------------------------------------------


@pytest.mark.parametrize("payload_class", ["zeros", "empty", "single_question"])
def test_tiny_payload_fires_under_12_bytes(payload_class):
    out, _ = fired([request(ODD, "13.107.4.52", at(1), seq=1, ttl=120, payload_class=payload_class)])
    [alert] = out["tiny_payload"]
    assert alert.doc["payload_len_max"] < 12


def test_tiny_payload_is_quiet_for_ordinary_data_and_dc_to_dc_question_marks():
    records = ping_run(ODD, "8.8.8.8", 0, 3, payload_class="windows", ttl=126, icmp_id=1)
    records.append(request("10.1.1.10", "10.1.1.11", at(5), payload_class="single_question", ttl=128))
    out, _ = fired(records)
    assert "tiny_payload" not in out


def test_tiny_payload_threshold_is_tunable():
    records = [request(ODD, "198.51.100.1", at(1), payload_class="superscan", ttl=64)]  # 8 bytes
    assert "tiny_payload" in fired(records)[0]
    assert "tiny_payload" not in fired(records, {"tiny_payload": {"min_bytes": 8}})[0]

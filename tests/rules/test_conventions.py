"""The conventions rules rely on are declared API: the handler arguments per event, and how a
window merges the facts of its findings."""

from __future__ import annotations

from recordkit import at, request

from processors.events import ALL_EVENTS
from processors.findings import FACT_MERGES, FACT_PREFIX_LEN, AlertWindow, Finding
from processors.rules import RULES
from processors.ruleskit import base


def test_every_event_has_its_handler_arguments_documented() -> None:
    assert set(base.HANDLER_ARGUMENTS) == set(ALL_EVENTS)
    for event in ALL_EVENTS:
        assert f"  {event} " in base.__doc__, f"{event} is missing from base.py's table"


def test_every_handler_is_for_an_event() -> None:
    for rule_id, module in RULES.items():
        for name in dir(module.Detector):
            if name.startswith("on_"):
                assert name[3:] in ALL_EVENTS, f"{rule_id}.{name} handles no event"


def test_max_facts_keep_the_largest_others_the_first() -> None:
    assert all(len(prefix) == FACT_PREFIX_LEN for prefix in FACT_MERGES)
    window = AlertWindow("icmp_flood", "10.0.0.1", "", at(0), at(900), 4, 10)
    for n, rate in enumerate((5, 9, 7)):
        record = request("10.0.0.1", "192.0.2.1", at(n), seq=n)
        window.add(Finding("icmp_flood", record, "", {"max_requests_per_s": rate,
                                                       "signal": f"s{n}"}), "192.0.2.1")
    assert window.facts == {"max_requests_per_s": 9, "signal": "s0"}

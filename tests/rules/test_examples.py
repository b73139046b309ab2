"""Every rule's own examples (EXAMPLES beside its METADATA): the captures it must fire on and
the traps it must stay quiet on, each scanned alone with the default configuration."""

from __future__ import annotations

import pytest

from processors import scan_records
from processors.rules import RULES
from samples.records import example_records

CASES = [
    pytest.param(rule_id, example, id=f"{rule_id}:{example.scenario}")
    for rule_id, module in RULES.items()
    for example in module.EXAMPLES
]


def test_every_rule_has_an_example_that_fires_and_a_trap() -> None:
    for rule_id, module in RULES.items():
        kinds = {example.fires for example in module.EXAMPLES}
        assert kinds == {True, False}, f"{rule_id} needs examples that fire and traps"


@pytest.mark.parametrize("rule_id, example", CASES)
def test_example(rule_id: str, example) -> None:
    alerts, _ = scan_records(example_records(example))
    fired = {alert.rule_id for alert in alerts}
    if example.fires:
        assert rule_id in fired, f"{rule_id} did not fire on {example.title!r}"
    else:
        assert rule_id not in fired, f"{rule_id} fired on the trap {example.title!r}"

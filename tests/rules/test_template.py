"""The rule template (processors/rules/_template.py) stays a working rule outside the registry:
a copy of it passes its own examples."""

from __future__ import annotations

from processors.rules import RULE_MODULES, _template
from samples.records import example_records


def test_the_template_is_not_registered() -> None:
    assert _template not in RULE_MODULES


def test_the_template_runs_its_own_examples() -> None:
    """Its handler, called on each echo request of its examples (the engine's dispatch is
    tested with the registered rules)."""
    detector = _template.Detector(_template.Tunables())
    for example in _template.EXAMPLES:
        findings = [
            finding
            for record in example_records(example)
            if record.get("icmp_type") in (8, 128)
            for finding in detector.on_echo_request(None, record, None)
        ]
        assert bool(findings) is example.fires, example.title

"""rule_id: one line on what this rule detects (the README catalogue shows the title below).

Copy this file to ``processors/rules/<rule_id>.py``, rename ``rule_id`` everywhere, and say here
why the pattern is odd: which tool or technique makes it, which ordinary senders look like it.
The leading underscore keeps this template out of the registry (processors/rules/README.md).
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from processors.findings import AlertWindow
from processors.ruleskit import phrases
from processors.ruleskit.base import NOTHING, Reference, RuleMetadata, RuleTunables, fires, trap
from processors.ruleskit.base import Detector as BaseDetector
from processors.state.host import HostState

METADATA = RuleMetadata(
    id="rule_id",
    title="Echo request with something odd",
    description="One or two sentences: what fires, in the terms of the record's fields.",
    severity="low",
    attack=("T1095",),  # techniques must be in processors/alerts/attack.py
    false_positives=("Which ordinary senders look like this, and how to suppress them.",),
    references=(Reference("MITRE ATT&CK T1095", "https://attack.mitre.org/techniques/T1095/"),),
    triage=("What an analyst checks first.", "And then."),
    status="experimental",  # then test, then stable (Sigma's status)
    rev=1,  # raise it whenever what fires changes (Suricata's rev): alerts carry it
    data_requirements=("Which records the rule needs, seen by which sensor.",),
    response=("What a responder does once triage says the alert is real.",),
)

#: captures this rule must fire on, and traps it must stay quiet on: each names a scenario
#: function of samples/records.py (add one there when none fits), run by
#: tests/rules/test_examples.py
EXAMPLES = (
    fires("an echo request with 1,400 data bytes", "big_echo"),
    trap("ordinary Windows, Linux and fping pings, answered", "ordinary_pings"),
)


class Tunables(RuleTunables):
    """The ``[rules.rule_id]`` section: every field documented with its default."""

    max_bytes: int = Field(1024, ge=0, description="echo data over this many bytes fires")


class Detector(BaseDetector):
    metadata = METADATA

    def __init__(self, tunables: Tunables) -> None:
        super().__init__(tunables)
        self.max_bytes = tunables.max_bytes  # read per packet: a plain attribute is cheaper

    def on_echo_request(self, host: HostState, record: dict[str, Any], _: Any):
        if record["payload_len"] <= self.max_bytes:
            return NOTHING
        return self.finding(record, facts={"max_bytes": self.max_bytes})

    def summary(self, window: AlertWindow) -> str:
        return (
            f"{window.host} sent {phrases.plural(window.count, 'echo request')} with"
            f" {phrases.sizes(window)} data {phrases.destinations(window)}"
            f" {phrases.duration(window)}"
        )

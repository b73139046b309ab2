"""Alerts carry what they need of their rule's metadata, copied when they are built: its
maturity and revision (native ``rule_status``/``rule_rev``, ECS ``rule.version``, OCSF
``finding_info.analytic.version``), its description and first reference address."""

from __future__ import annotations

import pytest
from recordkit import every_rule

from processors import scan_records
from processors.rules import RULES


@pytest.fixture(scope="module")
def alerts():
    found, _ = scan_records(every_rule())
    return found


def test_every_alert_carries_its_rules_status_and_revision(alerts) -> None:
    assert {alert.rule_id for alert in alerts} == set(RULES)
    for alert in alerts:
        meta = RULES[alert.rule_id].METADATA
        assert (alert.doc["rule_status"], alert.doc["rule_rev"]) == (meta.status, meta.rev)
        assert alert.render("ecs")["rule"]["version"] == str(meta.rev)
        assert alert.render("ocsf")["finding_info"]["analytic"]["version"] == str(meta.rev)


def test_an_alert_from_before_the_revision_renders_without_it(alerts) -> None:
    """Alerts read back from the topic may predate rule_status/rule_rev."""
    doc = {k: v for k, v in alerts[0].doc.items() if k not in ("rule_status", "rule_rev")}
    from processors.alerts import FORMATS

    assert "version" not in FORMATS["ecs"](doc)["rule"]
    assert "version" not in FORMATS["ocsf"](doc)["finding_info"]["analytic"]

"""The least-privilege ACL table is data (oddping/kafka_acls.py); the README shows exactly it."""

from __future__ import annotations

from pathlib import Path

from oddping.kafka_acls import ADMIN, ALERT_READER, PROCESSOR, SENSOR, Names, bindings, table

ROOT = Path(__file__).resolve().parent.parent


def test_readme_shows_the_acls_the_code_grants() -> None:
    assert table(Names()) in (ROOT / "README.md").read_text()


def test_each_principal_gets_only_its_own_topics() -> None:
    names = Names(records="r", alerts="a", dead_letters="d", app_id="app")
    granted: dict[str, set[tuple[str, str, str]]] = {}
    for b in bindings(names):
        granted.setdefault(b.principal, set()).add((b.restype.name, b.name, b.operation.name))
    assert ("TOPIC", "a", "READ") not in granted[f"User:{SENSOR}"]
    assert ("TOPIC", "a", "WRITE") not in granted[f"User:{SENSOR}"]
    assert ("TOPIC", "r", "WRITE") not in granted[f"User:{PROCESSOR}"]
    assert {n for _, n, _ in granted[f"User:{ALERT_READER}"]} == {"a", "oddping-alerts-reader-"}
    assert {op for _, _, op in granted[f"User:{ADMIN}"]} == {"CREATE", "DESCRIBE"}
    assert ("GROUP", "app", "READ") in granted[f"User:{PROCESSOR}"]
    assert ("TOPIC", "app-", "CREATE") in granted[f"User:{PROCESSOR}"]  # faust's own topics

"""``oddping scan`` in one call: run the engine over records, return the final alerts."""

from __future__ import annotations

from typing import Any, Iterable

from oddping.config import Settings
from processors.alerts import Alert
from processors.engine import Engine, EngineStats


def latest_versions(alerts: Iterable[Alert]) -> list[Alert]:
    """One alert per alert_id, its latest version, ordered by first packet then host and rule."""
    latest: dict[str, Alert] = {}
    for alert in alerts:
        latest[alert.alert_id] = alert
    return sorted(
        latest.values(),
        key=lambda a: (a.doc["first_seen"], a.src_ip, a.rule_id, a.alert_id),
    )


def final_versions(alerts: Iterable[Alert]) -> list[Alert]:
    """latest_versions without the alerts a rule dismissed at close (their last version says
    ``dismissed``): what ``oddping scan`` prints."""
    return [a for a in latest_versions(alerts) if a.doc["status"] != "dismissed"]


def scan_records(
    records: Iterable[dict[str, Any]], settings: Settings | None = None,
    all_versions: bool = False,
) -> tuple[list[Alert], EngineStats]:
    """The final versions (all_versions: every version, in the order emitted)."""
    engine = Engine(settings, open_versions=all_versions)
    emitted: list[Alert] = []
    for record in records:
        emitted.extend(engine.process(record))
    emitted.extend(engine.flush())
    return (emitted if all_versions else final_versions(emitted)), engine.stats

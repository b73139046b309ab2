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


def scan_records(
    records: Iterable[dict[str, Any]], settings: Settings | None = None
) -> tuple[list[Alert], EngineStats]:
    engine = Engine(settings)
    latest: dict[str, Alert] = {}  # one version per alert, not every version emitted
    for record in records:
        for alert in engine.process(record):
            latest[alert.alert_id] = alert
    for alert in engine.flush():
        latest[alert.alert_id] = alert
    return latest_versions(latest.values()), engine.stats

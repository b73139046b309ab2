"""``oddping scan`` in one call: run the engine over records, return the final alerts."""

from __future__ import annotations

import heapq
from operator import itemgetter
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


def by_capture_time(*streams: Iterable[dict[str, Any]]) -> Iterable[dict[str, Any]]:
    """Several sensors' records (each stream in its own capture order) as one stream in
    capture-time order, the order they would reach one host's partition live."""
    if len(streams) == 1:
        return streams[0]
    return heapq.merge(*streams, key=itemgetter("ts_ns"))


def final_versions(alerts: Iterable[Alert]) -> list[Alert]:
    """latest_versions without the alerts a rule dismissed at close (their last version says
    ``dismissed``): what ``oddping scan`` prints."""
    return [a for a in latest_versions(alerts) if a.doc["status"] != "dismissed"]


def scan_records(
    records: Iterable[dict[str, Any]], settings: Settings | None = None,
    all_versions: bool = False,
) -> tuple[list[Alert], EngineStats]:
    """The final versions (all_versions: every version, in the order emitted).  Without
    all_versions only each alert's latest version is kept while scanning: every version
    emitted would grow without bound on a long capture (a flood's)."""
    engine = Engine(settings, open_versions=all_versions)
    if all_versions:
        emitted: list[Alert] = []
        for record in records:
            emitted.extend(engine.process(record))
        emitted.extend(engine.flush())
        return emitted, engine.stats
    latest: dict[str, Alert] = {}
    for record in records:
        for alert in engine.process(record):
            latest[alert.alert_id] = alert
    for alert in engine.flush():
        latest[alert.alert_id] = alert
    return final_versions(latest.values()), engine.stats

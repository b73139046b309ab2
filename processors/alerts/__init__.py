"""Alerts: the native document (schemas/alert.schema.json) and its ECS and OCSF mappings.

An :class:`Alert` wraps the native document; ``render(fmt)`` maps it, ``to_json(fmt)``
serialises it with orjson.  The formats are a table, so the CLI and the worker take the format
name from configuration and never branch on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import orjson

from processors.alerts.build import alert_id, build_alert, iso_ns, parse_iso_ns
from processors.alerts.ecs import ECS_FIELDS, to_ecs
from processors.alerts.ocsf import OCSF_FIELDS, to_ocsf


def _native(doc: dict[str, Any]) -> dict[str, Any]:
    return doc


FORMATS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "native": _native,
    "ecs": to_ecs,
    "ocsf": to_ocsf,
}


@dataclass(frozen=True, slots=True)
class Alert:
    """One alert.  The same alert_id may be emitted again with more evidence: the latest wins."""

    doc: dict[str, Any]
    #: the campaign stage key an earlier version of this alert went to, when this version
    #: goes to another one (the stream withdraws it there: processors/stream/campaigns.py)
    moved_from: str | None = None

    @property
    def alert_id(self) -> str:
        return self.doc["alert_id"]

    @property
    def rule_id(self) -> str:
        return self.doc["rule_id"]

    @property
    def src_ip(self) -> str:
        return self.doc["src_ip"]

    @property
    def severity(self) -> str:
        return self.doc["severity"]

    def render(self, fmt: str = "native") -> dict[str, Any]:
        return FORMATS[fmt](self.doc)

    def to_json(self, fmt: str = "native") -> bytes:
        return orjson.dumps(FORMATS[fmt](self.doc))


__all__ = [
    "ECS_FIELDS",
    "FORMATS",
    "OCSF_FIELDS",
    "Alert",
    "alert_id",
    "build_alert",
    "iso_ns",
    "parse_iso_ns",
    "to_ecs",
    "to_ocsf",
]

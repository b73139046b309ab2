"""Alerts as people read them from the topic: one row per alert_id, its newest version.

The alerts topic carries every version of every alert (processors/lifecycle.py), in the native,
ECS or OCSF format.  ``Row.of`` reads the few fields a table shows from any of the three, and
``Latest`` keeps the highest version of each alert_id (a version replayed after a worker's
crash repeats a number: the later message of it wins).  ``oddping alerts --follow`` on a
terminal shows a live table (rich) whose rows are updated in place as newer versions arrive.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich import box
from rich.table import Table

SEVERITY_STYLE = {"low": "cyan", "medium": "yellow", "high": "bold red", "critical": "bold magenta"}
#: ECS event.severity / OCSF severity_id -> the native severity name
_ECS_SEVERITY = {1: "low", 2: "medium", 3: "high", 4: "critical"}
_OCSF_SEVERITY = {2: "low", 3: "medium", 4: "high", 5: "critical"}


@dataclass(frozen=True, slots=True)
class Row:
    alert_id: str
    version: int
    status: str
    severity: str
    rule_id: str
    src_ip: str
    first_seen: str
    packet_count: int
    summary: str

    @classmethod
    def of(cls, doc: dict[str, Any]) -> Row:
        """From a native, ECS or OCSF alert document."""
        if "alert_id" in doc:  # native
            return cls(doc["alert_id"], doc.get("version", 1), doc.get("status", "closed"),
                       doc["severity"], doc["rule_id"],
                       # a campaign alert (kind "campaign") is about many hosts
                       doc.get("src_ip", f"{doc.get('host_count', 0)} hosts"),
                       doc["first_seen"], doc.get("packet_count", 0), doc["summary"])
        if "oddping" in doc and "event" in doc:  # ECS
            own = doc["oddping"]
            campaign = own.get("kind") == "campaign"  # no source.ip, no packet count
            return cls(doc["event"]["id"], own.get("version", 1), own.get("status", "closed"),
                       own.get("severity") or _ECS_SEVERITY.get(doc["event"]["severity"], "?"),
                       doc["rule"]["id"],
                       f"{own['host_count']} hosts" if campaign else doc["source"]["ip"],
                       doc["@timestamp"], 0 if campaign else own["packet_count"],
                       doc["message"])
        own = doc.get("unmapped", {}).get("oddping", {})  # OCSF
        info = doc["finding_info"]
        if own.get("kind") == "campaign":  # its count is the hosts', its evidences theirs
            return cls(info["uid"], own.get("version", 1), own.get("status", "closed"),
                       _OCSF_SEVERITY.get(doc["severity_id"], "?"), info["analytic"]["uid"],
                       f"{own['host_count']} hosts", own.get("first_seen", ""), 0,
                       doc["message"])
        return cls(info["uid"], own.get("version", 1), own.get("status", "closed"),
                   _OCSF_SEVERITY.get(doc["severity_id"], "?"), info["analytic"]["uid"],
                   doc["evidences"][0]["src_endpoint"]["ip"] if doc.get("evidences") else "?",
                   own.get("first_seen", ""), doc["count"], doc["message"])


class Latest:
    """The newest version of each alert_id seen so far."""

    def __init__(self) -> None:
        self.rows: dict[str, Row] = {}

    def add(self, doc: dict[str, Any]) -> bool:
        """Take a document; True when it is (or replaces) its alert's newest version."""
        row = Row.of(doc)
        shown = self.rows.get(row.alert_id)
        if shown is not None and shown.version > row.version:
            return False  # an older version arriving late (another partition's replay)
        self.rows[row.alert_id] = row
        return True

    def ordered(self) -> list[Row]:
        return sorted(self.rows.values(),
                      key=lambda r: (r.first_seen, r.src_ip, r.rule_id, r.alert_id))


def live_table(latest: Latest, limit: int | None = None) -> Table:
    """The table a terminal shows: one row per alert, its newest version."""
    table = Table(title=f"oddping alerts: {len(latest.rows)}", expand=True, box=box.SIMPLE_HEAD)
    table.add_column("severity", no_wrap=True, min_width=6)
    table.add_column("rule", no_wrap=True, max_width=26)
    table.add_column("host", no_wrap=True, min_width=15)
    table.add_column("first seen", no_wrap=True, min_width=14)
    table.add_column("pkts", justify="right", no_wrap=True, min_width=4)
    table.add_column("version", no_wrap=True, min_width=9)
    table.add_column("summary", overflow="ellipsis", no_wrap=True, ratio=1, min_width=10)
    rows = latest.ordered()
    for row in rows[-limit:] if limit else rows:
        table.add_row(f"[{SEVERITY_STYLE.get(row.severity, '')}]{row.severity.upper()}",
                      row.rule_id, row.src_ip, row.first_seen[5:19].replace("T", " "),
                      str(row.packet_count), f"v{row.version} {row.status}", row.summary)
    return table

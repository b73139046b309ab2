"""`oddping alerts`: one row per alert_id in its newest version, from any of the three formats,
and the live table a terminal shows."""

from __future__ import annotations

from recordkit import zoo
from rich.console import Console

from oddping.alertview import Latest, Row, live_table
from processors import scan_records


def test_rows_read_the_same_alert_from_native_ecs_and_ocsf():
    versions, _ = scan_records(zoo(), all_versions=True)
    for alert in versions[:40]:
        rows = {Row.of(alert.render(fmt)) for fmt in ("native", "ecs", "ocsf")}
        assert len(rows) == 1, rows
        row = rows.pop()
        assert (row.alert_id, row.version, row.status) == (
            alert.alert_id, alert.doc["version"], alert.doc["status"])


def test_the_newest_version_wins_whatever_order_versions_arrive_in():
    versions, _ = scan_records(zoo(), all_versions=True)
    finals, _ = scan_records(zoo())
    in_order, shuffled = Latest(), Latest()
    for alert in versions:
        in_order.add(alert.doc)
    for alert in reversed(versions):  # older versions arriving late are ignored
        shuffled.add(alert.doc)
    expected = {a.alert_id: (a.doc["packet_count"], "closed") for a in finals}
    for latest in (in_order, shuffled):
        assert {r.alert_id: (r.packet_count, r.status) for r in latest.rows.values()} == expected


def test_live_table_has_one_row_per_alert_and_shows_the_version():
    versions, _ = scan_records(zoo(), all_versions=True)
    latest = Latest()
    console = Console(width=200, record=True, force_terminal=False)
    for alert in versions:
        latest.add(alert.doc)
    console.print(live_table(latest))
    text = console.export_text()
    assert f"oddping alerts: {len(latest.rows)}" in text
    assert text.count(" closed") == len(latest.rows)
    assert "v1 open" not in text


def test_a_campaign_reads_the_same_from_native_ecs_and_ocsf():
    """A campaign alert has no one source and no packet count: its row names its hosts (the
    ECS rendering has no source.ip: `oddping alerts` failed on it with a KeyError)."""
    from fleetkit import fleet

    from processors.campaign.run import campaigns

    alerts, _ = scan_records(fleet(4, lone=False))
    (campaign,) = campaigns(alerts)
    rows = {Row.of(campaign.render(fmt)) for fmt in ("native", "ecs", "ocsf")}
    assert len(rows) == 1, rows
    row = rows.pop()
    assert (row.rule_id, row.src_ip, row.alert_id) == ("campaign", "4 hosts", campaign.alert_id)

"""Campaigns (processors/campaign): one odd behaviour on many hosts becomes one finding, in
``oddping scan`` (both stages in process); the stream's second stage is in
test_campaigns_kafka.py."""

from __future__ import annotations

import copy

import orjson
import pytest
from click.testing import CliRunner
from fleetkit import LONE_HOST, fleet, fleet_host
from recordkit import at, footprints_burst, syns

import schemas
from oddping_cli.main import main
from oddping.config import CampaignSettings, load_config
from processors import scan_records
from processors.campaign.fingerprint import update_of
from processors.campaign.run import campaigns
from processors.campaign.stage import CampaignStage
from processors.campaign.suppression import as_toml, entries
from processors.lifecycle import content

SEED_RULES = ["multi_destination_sequence", "tiny_payload", "ttl_deviation", "unknown_payload"]


def both_stages(records, settings=None):
    alerts, _ = scan_records(records, settings)
    return alerts, campaigns(alerts, settings.campaigns if settings else None)


@pytest.fixture(scope="module")
def fleet20():
    return both_stages(fleet(20))


def test_twenty_footprints_hosts_are_one_campaign_and_the_lone_host_stays_ordinary(fleet20):
    alerts, found = fleet20
    assert len(found) == 1
    doc = found[0].doc
    assert doc["kind"] == "campaign" and doc["rule_id"] == "campaign"
    assert doc["host_count"] == 20 and sorted(doc["hosts"]) == sorted(map(fleet_host, range(20)))
    assert doc["rules"] == SEED_RULES
    assert doc["status"] == "closed"
    assert sorted(doc["dst_ips"]) == ["13.107.18.11", "13.107.4.52", "52.113.194.132"]
    # every alert of the fleet's hosts points to it; the lone host's do not
    fleet_alerts = [a for a in alerts if a.src_ip != LONE_HOST]
    assert len(fleet_alerts) == 80
    assert {a.doc["campaign_id"] for a in fleet_alerts} == {doc["alert_id"]}
    lone = [a for a in alerts if a.src_ip == LONE_HOST]
    # the lone host's alerts name the campaign of their own fingerprint, which never came
    assert lone and all(a.doc["campaign_id"] != doc["alert_id"] for a in lone)


def test_one_host_s_four_rules_share_one_behaviour_id(fleet20):
    alerts, _ = fleet20
    by_host: dict[str, set] = {}
    rules: dict[str, set] = {}
    for alert in alerts:
        by_host.setdefault(alert.src_ip, set()).add(alert.doc["behaviour_id"])
        rules.setdefault(alert.src_ip, set()).add(alert.rule_id)
    assert all(len(ids) == 1 for ids in by_host.values())  # one behaviour per host
    assert len({ids.pop() for ids in by_host.values()}) == 21  # and it is the host's own
    assert all(rules[fleet_host(n)] == set(SEED_RULES) for n in range(20))


def test_fingerprint_ignores_hop_distance_and_matches_office365_footprints(fleet20):
    _, found = fleet20
    doc = found[0].doc
    fp = doc["fingerprint"]
    # hosts at 2 and 3 hops (TTL 28 and 27 at the sensor) left with the same initial TTL
    assert (fp["initial_ttl"], fp["payload_class"], fp["payload_len_min"]) == (30, "zeros", 2)
    assert fp["dst_prefixes"] == ["13.107.0.0/16", "52.113.0.0/16"]
    assert fp["id_pattern"] == "one_id_across_destinations"
    assert doc["known"]["name"] == "office365_footprints"
    assert doc["severity"] == "low"  # lowered from the hosts' medium, never dropped
    assert doc["summary"].startswith(
        "20 Windows hosts send 2-byte zero echo requests at initial TTL 30 to the same 3"
        " destinations")
    assert "this matches Office 365 Footprints telemetry (source: SANS" in doc["summary"]


def test_alerts_validate_against_their_schemas(fleet20):
    alerts, found = fleet20
    for alert in alerts:
        assert schemas.first_error(schemas.ALERT_SCHEMA, alert.doc) is None
    for alert in found:
        assert schemas.first_error(schemas.CAMPAIGN_SCHEMA, alert.doc) is None
    # and a host alert is not a campaign alert
    assert schemas.first_error(schemas.CAMPAIGN_SCHEMA, alerts[0].doc) is not None


def test_ordinary_pings_of_the_same_fleet_give_nothing():
    alerts, found = both_stages(fleet(20, footprints=False, lone=False))
    assert alerts == [] and found == []


def test_below_min_hosts_a_behaviour_stays_ordinary_alerts():
    alerts, found = both_stages(fleet(2, lone=False))
    assert found == [] and len(alerts) == 8
    settings = load_config(overrides={"campaigns.min_hosts": 2})
    _, found_2 = both_stages(fleet(2, lone=False), settings)
    assert [a.doc["host_count"] for a in found_2] == [2]
    # the alerts named it all along: the id does not depend on other hosts
    assert {a.doc["campaign_id"] for a in alerts} == {found_2[0].doc["alert_id"]}


def test_an_unknown_fingerprint_is_a_campaign_at_its_hosts_severity():
    # the same shape at initial TTL 40: no known software
    records = []
    for n in range(4):
        ip = f"10.40.0.{n + 1}"
        records += syns(ip, "52.1.1.1", at(n), ttl=126)
        records += footprints_burst(ip, n + 1, 10, rounds=2, ttl=38)
    records.sort(key=lambda r: r["ts_ns"])
    _, found = both_stages(records)
    assert len(found) == 1
    doc = found[0].doc
    assert doc["known"] is None and doc["fingerprint"]["initial_ttl"] == 40
    assert doc["severity"] == "medium"
    assert doc["summary"].endswith("no known fleet software has this fingerprint")


def _updates(alerts):
    return [u for u in (update_of(copy.deepcopy(a.doc), CampaignSettings()) for a in alerts)
            if u is not None]


def test_the_closed_version_does_not_depend_on_the_order_updates_arrive(fleet20):
    alerts, found = fleet20
    stage = CampaignStage()
    opened = []
    for key, update in reversed(_updates(alerts)):
        opened += stage.add(key, update)
    closed = stage.flush()
    # an open version each time a host joined from the third on, then the closed one
    assert [v["host_count"] for v in opened] == list(range(3, 21))
    assert [v["version"] for v in opened] == list(range(1, 19))
    assert {v["status"] for v in opened} == {"open"}
    assert [c["host_count"] for c in closed] == [20] and closed[0]["version"] == 19
    assert content(closed[0]) == content(found[0].doc)


def test_replays_change_nothing_and_the_later_update_wins(fleet20):
    alerts, found = fleet20
    stage = CampaignStage()
    updates = _updates(alerts)
    for key, update in updates:
        stage.add(key, update)
    stage.take_changes()
    for key, update in updates:  # a replay after a crash: no version, no change
        assert stage.add(key, update) == []
    assert stage.take_changes() == {}
    # a host's new owner after a rebalance may number its versions lower: the later wins
    key, update = updates[0]
    stage.add(key, dict(update, version=update["version"] + 5, last_ns=update["last_ns"] + 1))
    stage.add(key, update)
    (closed,) = stage.flush()
    assert content(closed) == content(found[0].doc)


def test_a_dismissed_version_takes_its_alert_out(fleet20):
    alerts, _ = fleet20
    stage = CampaignStage()
    updates = _updates(alerts)
    for key, update in updates:
        stage.add(key, update)
    first_host = [u for _, u in updates if u["host"] == fleet_host(0)]
    for update in first_host:
        stage.add(updates[0][0], dict(update, status="dismissed", version=update["version"] + 1))
    (closed,) = stage.flush()
    assert closed["host_count"] == 19 and fleet_host(0) not in closed["hosts"]


def test_suppress_entry_silences_exactly_that_campaign(tmp_path, fleet20):
    alerts, found = fleet20
    campaign = found[0].doc
    lines = b"\n".join(a.to_json() for a in [*alerts, *found])
    source = tmp_path / "alerts.ndjson"
    source.write_bytes(lines + b"\n")
    result = CliRunner().invoke(main, [
        "suppress", "--campaign", campaign["alert_id"], "--reason", "Office 365 Footprints",
        "--expires", "2030-01-01", "--from", str(source)])
    assert result.exit_code == 0, result.output
    assert result.output == as_toml(campaign, "Office 365 Footprints", "2030-01-01") + "\n"
    config = tmp_path / "oddping.toml"
    config.write_text(result.output)
    settings = load_config(config)
    assert [s.model_dump(exclude_none=True) for s in settings.suppressions] == entries(
        campaign, "Office 365 Footprints", "2030-01-01")
    # the campaign's hosts are silent; the lone host still alerts
    quiet, none = both_stages(fleet(20), settings)
    assert none == [] and {a.src_ip for a in quiet} == {LONE_HOST}
    # another behaviour to the same networks still alerts: the same bursts at initial TTL 40
    other = []
    for n in range(3):
        ip = f"10.40.0.{n + 1}"
        other += syns(ip, "52.1.1.1", at(n), ttl=126)
        other += footprints_burst(ip, n + 1, 10, rounds=2, ttl=38)
    other.sort(key=lambda r: r["ts_ns"])
    still, found_other = both_stages(other, settings)
    assert len(still) == 12 and len(found_other) == 1


def test_suppress_names_a_missing_campaign(tmp_path):
    source = tmp_path / "empty.ndjson"
    source.write_text("not json\n")
    result = CliRunner().invoke(main, [
        "suppress", "--campaign", "0" * 8, "--reason", "x", "--from", str(source)])
    assert result.exit_code != 0 and "no campaign alert" in result.output


def _scan_kinds(*args: str) -> list[str]:
    result = CliRunner().invoke(main, ["scan", "samples/footprints.pcap", "--format", "jsonl",
                                       *args])
    assert result.exit_code == 0, result.output
    return [orjson.loads(line).get("kind", "host") for line in result.stdout.splitlines()
            if line.startswith("{")]


def test_scan_prints_the_seed_sample_s_campaign_after_its_host_alerts():
    kinds = _scan_kinds()
    assert kinds == ["host"] * 12 + ["campaign"]


def test_campaigns_can_be_turned_off(tmp_path):
    config = tmp_path / "off.toml"
    config.write_text("[campaigns]\nenabled = false\n")
    assert load_config(config).campaigns == CampaignSettings(enabled=False)
    assert _scan_kinds("--config", str(config)) == ["host"] * 12


def test_alerts_whose_host_s_distance_is_learned_later_move_to_the_other_campaign(fleet20):
    """Open versions built before a host's hop distance was known carry the arriving TTL: a
    campaign of those goes out, then is dismissed once the alerts move to the initial-TTL
    fingerprint, and only the latter is left (as in scan)."""
    alerts, found = fleet20
    stage = CampaignStage()
    updates = _updates(alerts)
    early = []
    for key, update in updates[:16]:  # four hosts' alerts, before the distance was known
        fp = dict(update["fingerprint"], initial_ttl=None, ttl_at_sensor=[28, 28])
        early += stage.add(key, dict(update, fingerprint=fp, version=update["version"] - 1))
    assert early and early[-1]["fingerprint"]["initial_ttl"] is None
    later = []
    for key, update in updates:
        later += stage.add(key, update)
    dismissed = [v for v in later if v["alert_id"] == early[-1]["alert_id"]]
    assert [v["status"] for v in dismissed] == ["dismissed"]
    final = stage.flush()
    assert [content(c) for c in final] == [content(found[0].doc)]


def test_known_rows_match_only_their_own_shape():
    from processors.campaign.known import match

    footprints = {"payload_class": "zeros", "payload_len_min": 2, "payload_len_max": 2,
                  "initial_ttl": 30, "ttl_at_sensor": None,
                  "dst_prefixes": ["13.107.0.0/16", "52.113.0.0/16"]}
    assert match(footprints).name == "office365_footprints"
    assert match(dict(footprints, initial_ttl=None, ttl_at_sensor=[27, 28])) is not None
    for change in ({"initial_ttl": 64}, {"payload_len_min": 1}, {"payload_class": "fping"},
                   {"dst_prefixes": ["13.107.0.0/16", "198.51.100.0/24"]},
                   {"initial_ttl": None, "ttl_at_sensor": [40, 40]}):
        assert match(dict(footprints, **change)) is None, change


def test_initial_ttl_suppression_uses_the_hop_distance_when_known():
    from oddping.config import Suppression
    from processors.suppress import Suppressions

    entries = Suppressions([Suppression(reason="r", initial_ttl=30, dst_cidr="13.107.0.0/16")],
                           ["tiny_payload"])
    check = entries.check
    assert check("tiny_payload", "10.0.0.1", "13.107.4.52", "zeros", 0, 28, 30) == ("r", False)
    assert check("tiny_payload", "10.0.0.1", "13.107.4.52", "zeros", 0, 28, 32) is None
    assert check("tiny_payload", "10.0.0.1", "13.107.4.52", "zeros", 0, 28, None) == ("r", False)
    assert check("tiny_payload", "10.0.0.1", "13.107.4.52", "zeros", 0, 31, None) is None
    assert check("tiny_payload", "10.0.0.1", "13.107.4.52", "zeros", 0, 10, None) is None


@pytest.mark.parametrize("fmt", ["ecs", "ocsf"])
def test_scan_prints_the_campaign_in_the_chosen_siem_format(fmt):
    """The campaign alert in ECS or OCSF like the host alerts before it (the mappings are
    checked against the upstream schemas in tests/test_siem_schemas.py)."""
    result = CliRunner().invoke(main, ["scan", "samples/footprints.pcap", "--format", fmt])
    assert result.exit_code == 0, result.output
    docs = [orjson.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert len(docs) == 13
    last = docs[-1]
    if fmt == "ecs":
        assert last["rule"]["id"] == "campaign" and last["oddping"]["host_count"] == 3
        assert all(doc["ecs"]["version"] == "8.17.0" for doc in docs)
    else:
        assert last["finding_info"]["analytic"]["uid"] == "campaign" and last["count"] == 3
        assert all(doc["class_uid"] == 2004 for doc in docs)


def test_the_stage_s_index_follows_every_change_as_a_rebuild_from_its_state_would(fleet20):
    """The stage keeps each key's alerts indexed by fingerprint, with every host's row and the
    counts a document sums up, changed in place by each update; a stage that loads the same
    state (after a restart) builds it afresh.  Random joins, replays, moves to another
    fingerprint, other destinations and withdrawals: both index and document alike."""
    import random

    from processors.campaign.stage import index_of

    alerts, _ = fleet20
    updates = _updates(alerts)
    rng = random.Random(19)
    stage = CampaignStage()
    for step in range(400):
        key, update = rng.choice(updates)
        update = dict(update, version=update["version"] + step)
        roll = rng.random()
        if roll < 0.2:
            update["status"] = "dismissed"
        elif roll < 0.4:
            update["fingerprint"] = dict(update["fingerprint"], initial_ttl=None,
                                         ttl_at_sensor=[28, 28])
        elif roll < 0.6:
            update["dst_ips"] = sorted(rng.sample(["52.96.0.1", "52.96.0.2", "40.0.0.9"],
                                                  rng.randint(1, 3)))
        elif roll < 0.7:
            update["last_ns"] += rng.randint(1, 10**9)
        stage.add(key, update)
    checked = 0
    for key, state in stage.states.items():
        fresh = CampaignStage()
        fresh.load(key, copy.deepcopy(state))
        kept, rebuilt = stage._index(key), index_of(state)
        assert kept.keys() == rebuilt.keys()
        for fp_id, index in kept.items():
            again = rebuilt[fp_id]
            assert index.alerts == again.alerts and index.by_host == again.by_host
            assert (index.rules, index.dsts, index.dst_sets) == (again.rules, again.dsts,
                                                                again.dst_sets)
            assert index.host_rows() == again.host_rows()
            campaign = {"version": 1, "version_ns": 0, "status": "open"}
            assert stage.document(key, fp_id, campaign) == fresh.document(key, fp_id, campaign)
            checked += 1
    assert checked >= 2  # both fingerprints (with and without the initial TTL) were exercised

"""From a campaign alert to the suppression entries that silence exactly it.

One ``[[suppressions]]`` entry per destination prefix of the fingerprint (an entry has one
``dst_cidr``), each also naming the payload class and the initial TTL, so the same software's
packets to those networks are silenced and nothing else: another payload, another TTL or
another destination still alerts.  No ``rule``: every rule that saw the behaviour is silenced.
No ``src_cidr``: the campaign is fleet software, wherever it runs.

The campaign is read from ``oddping scan --format jsonl`` output (a file, or the alerts topic
saved with ``oddping alerts --format jsonl``): the latest version of that alert_id wins.
"""

from __future__ import annotations

import json
from typing import Any, Iterable

import orjson


class CampaignNotFound(ValueError):
    pass


def find_campaign(lines: Iterable[bytes | str], campaign_id: str) -> dict[str, Any]:
    """The latest version of the campaign alert campaign_id among JSON lines (others and
    lines that are not JSON objects are skipped)."""
    best: dict[str, Any] | None = None
    for line in lines:
        line = line.strip()
        if not line:
            continue
        try:
            doc = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        if (isinstance(doc, dict) and doc.get("kind") == "campaign"
                and doc.get("alert_id") == campaign_id
                and (best is None or doc.get("version", 0) >= best.get("version", 0))):
            best = doc
    if best is None:
        raise CampaignNotFound(f"no campaign alert {campaign_id} in the input")
    return best


def entries(campaign: dict[str, Any], reason: str, expires: str | None = None
            ) -> list[dict[str, Any]]:
    """The suppression entries (oddping.config.Suppression fields) for a campaign."""
    fp = campaign["fingerprint"]
    out = []
    for prefix in fp["dst_prefixes"]:
        entry: dict[str, Any] = {"reason": reason, "dst_cidr": prefix,
                                 "payload_class": fp["payload_class"]}
        if fp["initial_ttl"] is not None:
            entry["initial_ttl"] = fp["initial_ttl"]
        if expires is not None:
            entry["expires"] = expires
        out.append(entry)
    return out


def as_toml(campaign: dict[str, Any], reason: str, expires: str | None = None) -> str:
    """The entries as TOML, ready to paste into the config file."""
    fp = campaign["fingerprint"]
    lines = [f"# campaign {campaign['alert_id']} (fingerprint {campaign['fingerprint_id']}):"
             f" {campaign['host_count']} hosts, {fp['payload_class']} data of"
             f" {fp['payload_len_min']}-{fp['payload_len_max']} bytes"]
    if fp["initial_ttl"] is None:
        lines.append("# the hosts' hop distance was unknown: no initial_ttl condition (arriving"
                     f" TTL {fp['ttl_at_sensor']})")
    for entry in entries(campaign, reason, expires):
        lines.append("[[suppressions]]")
        for name, value in entry.items():
            # a JSON string or integer is a valid TOML basic string or integer
            lines.append(f"{name} = {json.dumps(value)}")
        lines.append("")
    return "\n".join(lines)

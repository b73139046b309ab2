"""The campaign stage: behaviours of many hosts sharing a fingerprint -> one campaign alert.

Pure and deterministic: it is fed behaviour updates (fingerprint.Behaviour, each host's latest)
keyed by fingerprint, and keeps per campaign only what the campaign alert says.  ``oddping
scan`` runs it in process after the host stage; the stream feeds it through its own topic.

A campaign is one fingerprint in one window of capture time (``campaigns.window_s``, aligned
to the epoch, by the behaviour's first packet): ``alert_id`` is uuid5 of
``campaign|fingerprint_id|window start``, so any worker computes the same one.  It is an alert
only once ``campaigns.min_hosts`` hosts share the fingerprint; below that each host's behaviour
stays ordinary alerts.  Versions as for host alerts (processors/lifecycle.py): an open version
each time a host joins (or a known host's behaviour grows a rule), a closed one when the input
ends (``flush``).  The closed version is a function of the set of behaviours only (hosts sorted,
growth from the hosts' own first packets), not of their arrival order: the same in scan and in
the stream.

State per campaign: every host's (first, last, behaviour id, severity) -- bounded by the fleet,
a few dozen bytes a host -- and the rules seen.  Documents list at most
``campaigns.host_list_limit`` hosts and DST_LIMIT destinations; all hosts are counted.
"""

from __future__ import annotations

import uuid
from typing import Any, Iterator

from oddping import ALERT_SCHEMA_VERSION
from oddping.config import CampaignSettings
from processors.alerts.build import ALERT_NAMESPACE, iso_ns
from processors.campaign import known
from processors.campaign.fingerprint import ID_PATTERN_PHRASES, SEVERITY_RANK, Behaviour
from processors.lifecycle import CLOSED, OPEN

RULE_ID = "campaign"
RULE_NAME = "One odd behaviour on many hosts"
DST_LIMIT = 32
GROWTH_LIMIT = 48
NS_PER_S = 1_000_000_000

#: the initial TTL of a host's other traffic -> the OS family a summary names
OS_BY_INITIAL_TTL = {128: "Windows", 64: "Linux or macOS", 255: "network OS"}


def campaign_id(fingerprint_id: str, window_start_ns: int) -> str:
    return str(uuid.uuid5(ALERT_NAMESPACE, f"{RULE_ID}|{fingerprint_id}|{window_start_ns}"))


def _describe(fp: dict[str, Any]) -> str:
    low, high = fp["payload_len_min"], fp["payload_len_max"]
    size = f"{low}-byte" if low == high else f"{low}-{high}-byte"
    data = {"zeros": "zero", "empty": "empty"}.get(fp["payload_class"], fp["payload_class"])
    ttl = (f"initial TTL {fp['initial_ttl']}" if fp["initial_ttl"] is not None
           else "TTL {}".format(*fp["ttl_at_sensor"]) if fp["ttl_at_sensor"][0] == fp[
               "ttl_at_sensor"][1] else "TTL {}-{}".format(*fp["ttl_at_sensor"]))
    return f"{size} {data} echo requests at {ttl}"


class CampaignStage:
    def __init__(self, settings: CampaignSettings | None = None,
                 table: tuple[known.KnownFingerprint, ...] = known.KNOWN) -> None:
        self.settings = settings or CampaignSettings()
        self.table = table
        #: campaign id -> its state (plain JSON types: the stream's table stores it as is)
        self.campaigns: dict[str, dict[str, Any]] = {}

    # -- input ------------------------------------------------------------------------------

    def window_start(self, first_ns: int) -> int:
        width = self.settings.window_s * NS_PER_S
        return first_ns - first_ns % width

    def add(self, behaviour: Behaviour, now_ns: int | None = None) -> list[dict[str, Any]]:
        """Fold one behaviour update in; the campaign's new open version, if it is due."""
        start = self.window_start(behaviour.first_ns)
        cid = campaign_id(behaviour.fingerprint_id, start)
        state = self.campaigns.get(cid)
        if state is None:
            state = self.campaigns[cid] = {
                "fingerprint": behaviour.fingerprint, "fingerprint_id": behaviour.fingerprint_id,
                "window_start_ns": start, "hosts": {}, "rules": [], "version": 0,
                "version_ns": 0, "dst_ips": [], "dst_set": sorted(behaviour.dst_ips),
                "dst_sets_differ": False,
            }
        hosts = state["hosts"]
        before = hosts.get(behaviour.host)
        entry = [behaviour.first_ns, behaviour.last_ns, behaviour.behaviour_id,
                 behaviour.severity, behaviour.os_hint]
        if before is not None:  # the same host again: widen, never narrow (replays, updates)
            entry[0] = min(entry[0], before[0])
            entry[1] = max(entry[1], before[1])
            if SEVERITY_RANK[before[3]] > SEVERITY_RANK[entry[3]]:
                entry[3] = before[3]
        hosts[behaviour.host] = entry
        new_rules = sorted(set(state["rules"]) | set(behaviour.rules))
        grew = before is None or new_rules != state["rules"]
        state["rules"] = new_rules
        if sorted(behaviour.dst_ips) != state["dst_set"]:
            state["dst_sets_differ"] = True
        for ip in behaviour.dst_ips:
            if ip not in state["dst_ips"] and len(state["dst_ips"]) < DST_LIMIT:
                state["dst_ips"].append(ip)
        if not grew or len(hosts) < self.settings.min_hosts:
            return []
        return [self._version(cid, state, OPEN, now_ns or behaviour.last_ns)]

    def flush(self) -> list[dict[str, Any]]:
        """The input ended: the closed version of every campaign."""
        return [self._version(cid, state, CLOSED, self._end(state))
                for cid, state in sorted(self.campaigns.items())
                if len(state["hosts"]) >= self.settings.min_hosts]

    def membership(self) -> Iterator[tuple[str, str]]:
        """(behaviour_id, campaign_id) of every behaviour in a campaign."""
        for cid, state in self.campaigns.items():
            if len(state["hosts"]) >= self.settings.min_hosts:
                for entry in state["hosts"].values():
                    yield entry[2], cid

    # -- output -----------------------------------------------------------------------------

    @staticmethod
    def _end(state: dict[str, Any]) -> int:
        return max(entry[1] for entry in state["hosts"].values())

    def _version(self, cid: str, state: dict[str, Any], status: str,
                 now_ns: int) -> dict[str, Any]:
        state["version"] += 1
        state["version_ns"] = max(now_ns, state["version_ns"])
        return self.document(cid, state, status)

    def document(self, cid: str, state: dict[str, Any], status: str) -> dict[str, Any]:
        settings = self.settings
        fp = state["fingerprint"]
        hosts = sorted(state["hosts"].items(), key=lambda kv: (kv[1][0], kv[0]))
        row = known.match(fp, self.table)
        severity = max((e[3] for _, e in hosts), key=SEVERITY_RANK.__getitem__)
        if row is not None and SEVERITY_RANK[row.severity] < SEVERITY_RANK[severity]:
            severity = row.severity
        dst_ips = sorted(state["dst_ips"])
        return {
            "schema_version": ALERT_SCHEMA_VERSION,
            "kind": "campaign",
            "alert_id": cid,
            "version": state["version"],
            "status": status,
            "version_time": iso_ns(state["version_ns"]),
            "rule_id": RULE_ID,
            "rule_name": RULE_NAME,
            "severity": severity,
            "summary": self._summary(fp, hosts, dst_ips, state["dst_sets_differ"], row),
            "fingerprint_id": state["fingerprint_id"],
            "fingerprint": fp,
            "host_count": len(hosts),
            "hosts": [ip for ip, _ in hosts[:settings.host_list_limit]],
            "hosts_truncated": len(hosts) > settings.host_list_limit,
            "behaviour_ids": sorted(e[2] for _, e in hosts[:settings.host_list_limit]),
            "dst_ips": dst_ips,
            "first_seen": iso_ns(hosts[0][1][0]),
            "last_seen": iso_ns(max(e[1] for _, e in hosts)),
            "window_start": iso_ns(state["window_start_ns"]),
            "rules": list(state["rules"]),
            "growth": self._growth(hosts),
            "known": None if row is None else {"name": row.name, "software": row.software,
                                               "source": row.source},
        }

    def _growth(self, hosts: list[tuple[str, list]]) -> list[dict[str, Any]]:
        """Host count at the end of each bucket in which hosts joined (by their own first
        packet), the last GROWTH_LIMIT buckets."""
        width = self.settings.growth_bucket_s * NS_PER_S
        counts: dict[int, int] = {}
        for n, (_, entry) in enumerate(hosts, start=1):
            counts[entry[0] - entry[0] % width] = n
        return [{"time": iso_ns(t), "host_count": n}
                for t, n in sorted(counts.items())[-GROWTH_LIMIT:]]

    @staticmethod
    def _summary(fp: dict[str, Any], hosts: list, dst_ips: list[str], differ: bool,
                 row: known.KnownFingerprint | None) -> str:
        oses = {e[4] for _, e in hosts}
        os_name = OS_BY_INITIAL_TTL.get(oses.pop()) if len(oses) == 1 else None
        who = f"{len(hosts)} {os_name} hosts" if os_name else f"{len(hosts)} hosts"
        same = "" if differ else "the same "
        where = (f"{same}{len(dst_ips)} destinations" if len(dst_ips) > 1
                 else f"{same}destination {dst_ips[0]}" if dst_ips else "their destinations")
        text = (f"{who} send {_describe(fp)} to {where} ({', '.join(fp['dst_prefixes'])}),"
                f" {ID_PATTERN_PHRASES[fp['id_pattern']]}")
        if row is not None:
            return f"{text}; this matches {row.software} (source: {row.source})"
        return f"{text}; no known fleet software has this fingerprint"

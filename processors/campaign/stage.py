"""The campaign stage: behaviours of many hosts sharing a fingerprint -> one campaign alert.

Pure and deterministic.  It is fed *behaviour updates* (fingerprint.update_of of a host alert
version of a behaviour rule: in scan its final version, in the stream its latest at each
checkpoint, processors/stream/batch.py) under a *stage key* (the fingerprint without its TTL, and the
campaign window), and keeps per key each alert's latest update: an update replaces the one before it (the later
wins, as on the alerts topic), a ``dismissed`` version removes it, a replayed one changes
nothing.  The
alerts of a key that share a full fingerprint (the same initial TTL) are one campaign once they
come from ``campaigns.min_hosts`` hosts.  ``oddping scan`` feeds it the final versions in
process; the stream feeds it through its own topic (processors/stream/campaigns.py).

Versions, as for host alerts (processors/lifecycle.py): an open version at once when a host joins
a campaign (or a rule joins its behaviour); other changes (a host's later packets) make the
campaign *dirty*, and ``emit_pending`` (the input has gone quiet) emits their open versions; a
``dismissed`` version when it falls below min_hosts after versions went out (its alerts
moved to another fingerprint when their host's hop distance was learned, or were dismissed;
``oddping scan`` never shows it), and a closed version once event time (the newest version
time fed to this stage) is
``campaigns.close_after_s`` past the campaign window's end, or when the input ends (``flush``).
A campaign document is a function of the set of its alerts' latest updates, not of the order
they came in (hosts sorted by first packet, unions sorted): its last version says the same in
scan and in the stream.

State per key: each alert's entry (a few dozen bytes; four alerts a host in the seed) and each
campaign's version counter: bounded by the fleet.  Documents list at most
``campaigns.host_list_limit`` hosts and DST_LIMIT destinations; all hosts are counted.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Iterable

from oddping import ALERT_SCHEMA_VERSION
from oddping.config import CampaignSettings
from processors.alerts.build import iso_ns
from processors.campaign import known
from processors.campaign.fingerprint import (ID_PATTERN_PHRASES, NS_PER_S, SEVERITY_RANK,
                                             campaign_id, fingerprint_id)
from processors.lifecycle import CLOSED, DISMISSED, OPEN

RULE_ID = "campaign"
RULE_NAME = "One odd behaviour on many hosts"
DST_LIMIT = 32
GROWTH_LIMIT = 48

#: the initial TTL of a host's other traffic -> the OS family a summary names
OS_BY_INITIAL_TTL = {128: "Windows", 64: "Linux or macOS", 255: "network OS"}

# an alert's entry: [version, fingerprint id, host, rule, first ns, last ns, severity,
#                    os hint, destinations, behaviour id]
VERSION, FP, HOST, RULE, FIRST, LAST, SEVERITY, OS, DSTS, BEHAVIOUR = range(10)


def _describe(fp: dict[str, Any]) -> str:
    low, high = fp["payload_len_min"], fp["payload_len_max"]
    size = f"{low}-byte" if low == high else f"{low}-{high}-byte"
    data = {"zeros": "zero", "empty": "empty"}.get(fp["payload_class"], fp["payload_class"])
    if fp["initial_ttl"] is not None:
        ttl = f"initial TTL {fp['initial_ttl']}"
    else:
        low_ttl, high_ttl = fp["ttl_at_sensor"]
        ttl = f"TTL {low_ttl}" if low_ttl == high_ttl else f"TTL {low_ttl}-{high_ttl}"
    return f"{size} {data} echo requests at {ttl}"


class FingerprintIndex:
    """One fingerprint's alerts in a stage key, and what a campaign document sums up from them
    (each host's row, the rules, destinations and destination sets they count): kept beside the
    key's state (never saved; rebuilt from it after a load), so an update and a document cost
    what changed, not a rescan of the key's every alert.  On a busy network (the stream bench's
    capture: keys of up to ~1,100 alerts) the rescans cost ~165 µs an update."""

    __slots__ = ("alerts", "by_host", "rows", "rules", "dsts", "dst_sets")

    def __init__(self) -> None:
        self.alerts: dict[str, list] = {}
        #: host -> alert id -> entry
        self.by_host: dict[str, dict[str, list]] = {}
        #: host -> [first ns, last ns, severity, os hint, behaviour ids]: its alerts summed up
        #: (dropped when they change, summed again when a document needs it)
        self.rows: dict[str, list] = {}
        self.rules: Counter = Counter()
        self.dsts: Counter = Counter()
        self.dst_sets: Counter = Counter()

    def put(self, alert_id: str, entry: list) -> None:
        self.alerts[alert_id] = entry
        self.by_host.setdefault(entry[HOST], {})[alert_id] = entry
        self.rows.pop(entry[HOST], None)
        self.rules[entry[RULE]] += 1
        self.dsts.update(entry[DSTS])
        self.dst_sets[tuple(sorted(entry[DSTS]))] += 1

    def drop(self, alert_id: str) -> None:
        entry = self.alerts.pop(alert_id)
        host = self.by_host[entry[HOST]]
        del host[alert_id]
        if not host:
            del self.by_host[entry[HOST]]
        self.rows.pop(entry[HOST], None)
        _uncount(self.rules, (entry[RULE],))
        _uncount(self.dsts, entry[DSTS])
        _uncount(self.dst_sets, (tuple(sorted(entry[DSTS])),))

    def shape(self) -> tuple[int, set]:
        """(how many hosts, which rules)"""
        return len(self.by_host), set(self.rules)

    def host_rows(self) -> dict[str, list]:
        """host -> [first ns, last ns, severity (the highest), os hint, behaviour ids]"""
        rows = self.rows
        for host, entries in self.by_host.items():
            if host in rows:
                continue
            first = last = severity = os_hint = None
            behaviours = set()
            for entry in entries.values():
                if first is None:
                    first, last, severity, os_hint = (entry[FIRST], entry[LAST],
                                                      entry[SEVERITY], entry[OS])
                else:
                    first, last = min(first, entry[FIRST]), max(last, entry[LAST])
                    if SEVERITY_RANK[entry[SEVERITY]] > SEVERITY_RANK[severity]:
                        severity = entry[SEVERITY]
                    if entry[OS] is not None:
                        os_hint = entry[OS] if os_hint is None else max(os_hint, entry[OS])
                behaviours.add(entry[BEHAVIOUR])
            rows[host] = [first, last, severity, os_hint, behaviours]
        return rows


def _uncount(counter: Counter, values: Iterable) -> None:
    for value in values:
        counter[value] -= 1
        if not counter[value]:
            del counter[value]


def index_of(state: dict[str, Any]) -> dict[str, FingerprintIndex]:
    """A key's alerts by fingerprint."""
    index: dict[str, FingerprintIndex] = {}
    for alert_id, entry in state["alerts"].items():
        found = index.get(entry[FP])
        if found is None:
            found = index[entry[FP]] = FingerprintIndex()
        found.put(alert_id, entry)
    return index


def new_state(window_start_ns: int) -> dict[str, Any]:
    """A stage key's state: plain JSON types, so the stream's table stores it as it is."""
    return {"window_start_ns": window_start_ns, "alerts": {}, "fingerprints": {},
            "campaigns": {}}


class CampaignStage:
    def __init__(self, settings: CampaignSettings | None = None,
                 table: tuple[known.KnownFingerprint, ...] = known.KNOWN) -> None:
        self.settings = settings or CampaignSettings()
        self.table = table
        #: stage key -> its state
        self.states: dict[str, dict[str, Any]] = {}
        #: stage key -> its alerts by fingerprint (index_of its state; built when first needed)
        self._indexes: dict[str, dict[str, FingerprintIndex]] = {}
        #: stage keys changed since take_changes
        self.changed: set[str] = set()
        #: the newest version time fed (event time of the stage)
        self.watermark_ns = 0
        #: updates for a campaign already closed (counted, not applied)
        self.late_updates = 0

    # -- input ------------------------------------------------------------------------------

    def add(self, key: str, update: dict[str, Any]) -> list[dict[str, Any]]:
        """Fold one behaviour update in; the open versions it makes due at once."""
        state = self.states.get(key)
        if state is None:
            if update["status"] == DISMISSED:
                return []  # a withdrawal from a key that holds nothing
            state = self.states[key] = new_state(update["window_start_ns"])
        self.watermark_ns = max(self.watermark_ns, update["version_ns"])
        fp_id = fingerprint_id(update["fingerprint"])
        cid = campaign_id(fp_id, state["window_start_ns"])
        alerts = state["alerts"]
        # The later update of an alert wins, as on the alerts topic: after a rebalance or a
        # crash, a host's new owner replays its records from the last checkpoint, and its
        # versions may repeat numbers the old owner used, or stop short of them (open versions
        # depend on how hosts interleave), so a version number says nothing about which came
        # last.  One alert's updates share a key, hence a partition: they arrive in order.
        old = alerts.get(update["alert_id"])
        if state["campaigns"].get(cid, {}).get("status") == CLOSED:
            self.late_updates += 1
            return []
        entry = None
        if update["status"] != DISMISSED:
            entry = [update["version"], fp_id, update["host"], update["rule_id"],
                     update["first_ns"], update["last_ns"], update["severity"],
                     update["os_hint"], update["dst_ips"], update["behaviour_id"]]
            if old is not None and old[1:] == entry[1:]:
                old[VERSION] = entry[VERSION]
                return []  # the same content again (a replay, or an update saying nothing new)
        elif old is None:
            return []
        touched = ({old[FP]} if entry is None else
                   {fp_id} | ({old[FP]} if old is not None else set()))
        index = self._index(key)
        before = {f: index[f].shape() if f in index else (0, set()) for f in touched}
        alert_id = update["alert_id"]
        if old is not None:
            index[old[FP]].drop(alert_id)
            if not index[old[FP]].alerts:
                del index[old[FP]]
        if entry is None:
            del alerts[alert_id]
        else:
            alerts[alert_id] = entry
            state["fingerprints"][fp_id] = update["fingerprint"]
            if fp_id not in index:
                index[fp_id] = FingerprintIndex()
            index[fp_id].put(alert_id, entry)
        self.changed.add(key)
        out = []
        for f in sorted(touched):
            hosts, rules = index[f].shape() if f in index else (0, set())
            fcid = campaign_id(f, state["window_start_ns"])
            campaign = state["campaigns"].setdefault(
                fcid, {"version": 0, "version_ns": 0, "status": OPEN, "dirty": False})
            campaign["dirty"] = True
            # one alert is one host's: an update adds its host to a fingerprint or takes it
            # away, never both, so more hosts is a strictly larger set of them
            grew = hosts > before[f][0] or not rules <= before[f][1]
            if hosts >= self.settings.min_hosts:
                if grew:
                    out.append(self._version(key, f, OPEN, self.watermark_ns))
            elif campaign["version"] and campaign["status"] == OPEN:
                # fewer hosts than it takes, after versions went out: its alerts moved to
                # another fingerprint (a host's hop distance learned) or were dismissed
                out.append(self._version(key, f, DISMISSED, self.watermark_ns))
        return out

    def emit_pending(self) -> list[dict[str, Any]]:
        """The input went quiet: an open version of every campaign changed since its last."""
        return self._each(lambda c: c["dirty"] and c["status"] == OPEN, OPEN)

    def close_due(self) -> list[dict[str, Any]]:
        """Closed versions of the campaigns event time has left campaigns.close_after_s
        behind the end of their window."""
        settings = self.settings
        horizon = self.watermark_ns - (settings.window_s + settings.close_after_s) * NS_PER_S
        return self._each(lambda c: c["status"] == OPEN, CLOSED,
                          keys=[k for k, s in self.states.items()
                                if s["window_start_ns"] <= horizon])

    def flush(self) -> list[dict[str, Any]]:
        """The input ended: the closed version of every campaign."""
        return self._each(lambda c: c["status"] == OPEN, CLOSED)

    def take_changes(self) -> dict[str, dict[str, Any]]:
        """The states of the keys changed since the last call (the stream's checkpoint)."""
        changed = {key: self.states[key] for key in sorted(self.changed) if key in self.states}
        self.changed.clear()
        return changed

    def load(self, key: str, state: dict[str, Any]) -> None:
        self.states[key] = state
        self._indexes.pop(key, None)

    def forget(self, keys: Iterable[str]) -> None:
        for key in keys:
            self.states.pop(key, None)
            self._indexes.pop(key, None)
            self.changed.discard(key)

    def _index(self, key: str) -> dict[str, FingerprintIndex]:
        index = self._indexes.get(key)
        if index is None:
            index = self._indexes[key] = index_of(self.states[key])
        return index

    # -- output -----------------------------------------------------------------------------

    def _each(self, wanted, status: str, keys: Iterable[str] | None = None) -> list[dict]:
        out = []
        for key in sorted(self.states if keys is None else keys):
            state = self.states[key]
            index = self._index(key)
            for fp_id in sorted(index):
                campaign = state["campaigns"].get(campaign_id(fp_id, state["window_start_ns"]))
                if campaign is None or not wanted(campaign):
                    continue
                if len(index[fp_id].by_host) >= self.settings.min_hosts:
                    end = max(e[LAST] for e in index[fp_id].alerts.values())
                    out.append(self._version(key, fp_id, status, max(end, self.watermark_ns)
                                             if status == OPEN else end))
                    self.changed.add(key)
                elif status == CLOSED:
                    campaign["status"] = CLOSED  # never a campaign: nothing to say
                    self.changed.add(key)
        return out

    def _version(self, key: str, fp_id: str, status: str, now_ns: int) -> dict[str, Any]:
        state = self.states[key]
        cid = campaign_id(fp_id, state["window_start_ns"])
        campaign = state["campaigns"][cid]
        campaign["version"] += 1
        campaign["version_ns"] = max(now_ns, campaign["version_ns"])
        campaign["status"] = status
        campaign["dirty"] = False
        return self.document(key, fp_id, campaign)

    def document(self, key: str, fp_id: str, campaign: dict[str, Any]) -> dict[str, Any]:
        settings = self.settings
        state = self.states[key]
        fp = state["fingerprints"][fp_id]
        found = self._index(key).get(fp_id) or FingerprintIndex()
        hosts = found.host_rows()  # host -> [first, last, severity, os, behaviour ids]
        rules = list(found.rules)
        dsts = list(found.dsts)
        ordered = sorted(hosts.items(), key=lambda kv: (kv[1][0], kv[0]))
        if not ordered:  # a dismissed version: none of its alerts is left
            start = state["window_start_ns"]
            ordered_empty = [("", [start, start, "low", None, set()])]
        else:
            ordered_empty = ordered
        listed = ordered[:settings.host_list_limit]
        row = known.match(fp, self.table)
        severity = max((h[2] for _, h in ordered_empty), key=SEVERITY_RANK.__getitem__)
        if row is not None and SEVERITY_RANK[row.severity] < SEVERITY_RANK[severity]:
            severity = row.severity
        dst_ips = sorted(dsts)[:DST_LIMIT]
        dst_sets = list(found.dst_sets)
        return {
            "schema_version": ALERT_SCHEMA_VERSION,
            "kind": "campaign",
            "alert_id": campaign_id(fp_id, state["window_start_ns"]),
            "version": campaign["version"],
            "status": campaign["status"],
            "version_time": iso_ns(campaign["version_ns"]),
            "rule_id": RULE_ID,
            "rule_name": RULE_NAME,
            "severity": severity,
            "summary": (self._summary(fp, ordered, dst_ips, len(dst_sets) > 1, row)
                        if campaign["status"] != DISMISSED else
                        f"No longer a campaign: {len(ordered)} hosts left with this fingerprint"
                        f" (fewer than {settings.min_hosts}); their alerts moved to another"
                        " fingerprint or were dismissed"),
            "fingerprint_id": fp_id,
            "fingerprint": fp,
            "host_count": len(ordered),
            "hosts": [ip for ip, _ in listed],
            "hosts_truncated": len(ordered) > settings.host_list_limit,
            "behaviour_ids": sorted(b for _, h in listed for b in h[4]),
            "dst_ips": dst_ips,
            "first_seen": iso_ns(min(h[0] for _, h in ordered_empty)),
            "last_seen": iso_ns(max(h[1] for _, h in ordered_empty)),
            "window_start": iso_ns(state["window_start_ns"]),
            "rules": sorted(rules),
            "growth": self._growth(ordered),
            "known": None if row is None else {"name": row.name, "software": row.software,
                                               "source": row.source},
        }

    def _growth(self, hosts: list[tuple[str, list]]) -> list[dict[str, Any]]:
        """Host count at the end of each bucket in which hosts joined (by their own first
        packet), the last GROWTH_LIMIT buckets."""
        width = self.settings.growth_bucket_s * NS_PER_S
        counts: dict[int, int] = {}
        for n, (_, h) in enumerate(hosts, start=1):
            counts[h[0] - h[0] % width] = n
        return [{"time": iso_ns(t), "host_count": n}
                for t, n in sorted(counts.items())[-GROWTH_LIMIT:]]

    @staticmethod
    def _summary(fp: dict[str, Any], hosts: list, dst_ips: list[str], differ: bool,
                 row: known.KnownFingerprint | None) -> str:
        oses = {h[3] for _, h in hosts}
        os_name = OS_BY_INITIAL_TTL.get(oses.pop()) if len(oses) == 1 else None
        who = f"{len(hosts)} {os_name} hosts" if os_name else f"{len(hosts)} hosts"
        same = "" if differ else "the same "
        where = (f"{same}{len(dst_ips)} destinations" if len(dst_ips) > 1
                 else f"{same}destination {dst_ips[0]}")
        text = (f"{who} send {_describe(fp)} to {where} ({', '.join(fp['dst_prefixes'])}),"
                f" {ID_PATTERN_PHRASES[fp['id_pattern']]}")
        if row is not None:
            return f"{text}; this matches {row.software} (source: {row.source})"
        return f"{text}; no known fleet software has this fingerprint"

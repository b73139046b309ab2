"""The tests' name for the record kit, which lives in the product (samples/records.py) because
the rules' examples are built with it."""

from samples.records import *  # noqa: F401,F403
from samples.records import by_time, every_rule, zoo  # noqa: F401

from pathlib import Path  # noqa: E402

from oddping.config import Settings  # noqa: E402
from processors import scan_records  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
#: the seed's host
ODD = "10.20.0.15"


def fired(records, rules=None, **settings):
    """rule_id -> alerts, after scanning the records in capture order."""
    alerts, stats = scan_records(by_time(records), Settings(rules=rules or {}, **settings))
    out: dict[str, list] = {}
    for alert in alerts:
        out.setdefault(alert.rule_id, []).append(alert)
    return out, stats

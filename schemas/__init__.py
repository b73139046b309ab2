"""Versioned JSON Schemas (2020-12) of oddping's records and alerts: the contract on the topics."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator

RECORD_SCHEMA = "icmp_record.schema.json"
ALERT_SCHEMA = "alert.schema.json"
CAMPAIGN_SCHEMA = "campaign.schema.json"


@cache
def load(name: str) -> dict[str, Any]:
    return json.loads(resources.files(__name__).joinpath(name).read_text(encoding="utf-8"))


@cache
def validator(name: str) -> Draft202012Validator:
    schema = load(name)
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def first_error(name: str, document: Any) -> str | None:
    """One line naming where the document breaks the schema, or None when it conforms."""
    error = next(iter(validator(name).iter_errors(document)), None)
    if error is None:
        return None
    where = "/".join(str(p) for p in error.absolute_path) or "(root)"
    return f"{where}: {error.message}"

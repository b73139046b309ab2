"""The files that restate the rule registry (processors/generated.py) are up to date: the alert
schema's rule_id enum, the chart's per-rule values schema and the README's rules table."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import jsonschema
import pytest

from processors import generated
from processors.rules import RULE_IDS, RULES

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("path", list(generated.GENERATORS), ids=str)
def test_generated_file_is_up_to_date(path: Path) -> None:
    current = (ROOT / path).read_text()
    assert generated.GENERATORS[path](current) == current, (
        f"{path} is stale: the rule registry changed; run {generated.COMMAND} and commit the result")


def test_the_generator_rewrites_a_stale_copy(tmp_path: Path) -> None:
    for path in generated.GENERATORS:
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / path, tmp_path / path)
    schema = tmp_path / generated.ALERT_SCHEMA
    schema.write_text(schema.read_text().replace('"ping_sweep"', '"ping_swept"'))
    readme = tmp_path / generated.README
    readme.write_text(readme.read_text().replace("| `tiny_payload` |", "| `tiny_paylod` |"))
    assert generated.stale(tmp_path) == [generated.ALERT_SCHEMA, generated.README]
    assert generated.write(tmp_path) == [generated.ALERT_SCHEMA, generated.README]
    assert generated.stale(tmp_path) == []


def test_the_alert_schema_names_every_rule() -> None:
    schema = json.loads((ROOT / generated.ALERT_SCHEMA).read_text())
    assert schema["properties"]["rule_id"]["enum"] == list(RULE_IDS)


def test_the_values_schema_takes_each_rules_defaults_and_rejects_unknown_tunables() -> None:
    rules = json.loads((ROOT / generated.VALUES_SCHEMA).read_text())["properties"]["rules"]
    validator = jsonschema.Draft7Validator(rules)
    for rule_id, module in RULES.items():
        defaults = module.Tunables().model_dump(mode="json")
        assert not list(validator.iter_errors({rule_id: defaults})), rule_id
        assert list(validator.iter_errors({rule_id: {"no_such_tunable": 1}})), rule_id
    assert list(validator.iter_errors({"no_such_rule": {}}))

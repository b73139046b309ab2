"""The rule registry and the [rules] configuration contract."""

from __future__ import annotations

import importlib

import pytest
from recordkit import (
    at,
    fired,
    footprints_burst,
    ODD,
    request,
    ROOT,
)

from oddping.config import ConfigError
from processors.alerts.attack import TECHNIQUES
from processors.rules import RULES, RULE_IDS, load_rule_settings


# -- the registry and configuration -----------------------------------------------------------


def rule_modules_on_disk() -> list[str]:
    """The modules of processors/rules/, by file name: only rules live there (_template and the
    other underscored modules are not rules; shared helpers live in processors/ruleskit/)."""
    found = []
    for path in sorted((ROOT / "processors" / "rules").glob("*.py")):
        if path.stem.startswith("_"):
            continue
        module = importlib.import_module(f"processors.rules.{path.stem}")
        assert hasattr(module, "METADATA"), f"{path.name} is not a rule: move it to ruleskit/"
        found.append(path.stem)
    return found


def test_registry_holds_every_rule_module_once_named_by_its_id():
    assert len(set(RULE_IDS)) == len(RULE_IDS)
    assert [module.__name__.rsplit(".", 1)[1] for module in RULES.values()] == list(RULE_IDS)
    assert sorted(RULE_IDS) == rule_modules_on_disk()


@pytest.mark.parametrize("rule_id", RULE_IDS)
def test_every_rule_carries_its_metadata_and_documents_its_tunables(rule_id):
    module = RULES[rule_id]
    meta = module.METADATA
    assert module.__doc__ and module.__doc__.startswith(f"{rule_id}:")
    assert meta.id == rule_id and meta.title and meta.description
    assert meta.severity in ("low", "medium", "high", "critical")
    assert meta.attack and all(t in TECHNIQUES for t in meta.attack)
    assert meta.false_positives and meta.references and meta.triage
    assert meta.status in ("experimental", "test", "stable") and meta.rev >= 1
    assert meta.data_requirements and meta.response
    assert all(ref.title and (ref.url is None or ref.url.startswith("https://"))
               for ref in meta.references)
    for name, field in module.Tunables.model_fields.items():
        assert field.description, f"{rule_id}.{name} is not documented"
    defaults = module.Tunables()
    assert defaults.enabled is True and defaults.severity is None


def test_unknown_rule_id_is_a_one_line_config_error():
    with pytest.raises(ConfigError) as err:
        load_rule_settings({"tiny_payloads": {}})
    assert "unknown rule id 'tiny_payloads'" in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize(
    "section, words",
    [
        ({"tiny_payload": {"min_bytes": "many"}}, ["[rules.tiny_payload]", "min_bytes"]),
        ({"ping_sweep": {"min_destinations": 1}}, ["[rules.ping_sweep]", "min_destinations"]),
        ({"ping_sweep": {"threshold": 5}}, ["[rules.ping_sweep]", "threshold"]),
        ({"icmp_tunnel": {"severity": "urgent"}}, ["[rules.icmp_tunnel]", "severity"]),
        ({"unknown_payload": {"classes": ["zeroes"]}}, ["unknown payload class 'zeroes'"]),
        ({"tiny_payload": 3}, ["[rules.tiny_payload] must be a table"]),
    ],
)
def test_bad_tunables_are_one_line_config_errors(section, words):
    with pytest.raises(ConfigError) as err:
        load_rule_settings(section)
    message = str(err.value)
    assert "\n" not in message
    for word in words:
        assert word in message


def test_config_file_sections_reach_the_rules(tmp_path):
    from oddping.config import load_config

    path = tmp_path / "oddping.toml"
    path.write_text(
        '[rules.tiny_payload]\nseverity = "high"\n\n[rules.ping_sweep]\nenabled = false\n'
    )
    settings = load_config(path)
    tunables = load_rule_settings(settings.rules)
    assert tunables["tiny_payload"].severity == "high"
    records = footprints_burst(ODD, 0, 40)
    records += [request("10.9.9.9", f"10.1.0.{n}", at(n), seq=n, ttl=64) for n in range(1, 30)]
    out, _ = fired(records, settings.rules)
    assert out["tiny_payload"][0].severity == "high"
    assert "ping_sweep" not in out

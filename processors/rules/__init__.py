"""The rule registry: every rule module, by id, and their configuration.

Rule ids are a contract (schemas, docs and SIEM content use them).  Adding a rule is adding a
module, its test file and a line in ``RULE_MODULES`` (README.md here); the engine dispatches by
the table, never by if-chains.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from pydantic import ValidationError

from oddping.config import ConfigError
from processors.networks import InternalNetworks
from processors.rules import (
    fragment_anomaly,
    icmp_flood,
    icmp_tunnel,
    multi_destination_sequence,
    os_ttl_mismatch,
    oversized_payload,
    ping_sweep,
    reply_mismatch,
    scanner_payload,
    tiny_payload,
    ttl_deviation,
    unknown_payload,
    unsolicited_reply,
)
from processors.ruleskit.base import Detector, RuleMetadata, RuleTunables

RULE_MODULES: tuple[ModuleType, ...] = (
    multi_destination_sequence,
    tiny_payload,
    unknown_payload,
    scanner_payload,
    os_ttl_mismatch,
    ttl_deviation,
    reply_mismatch,
    unsolicited_reply,
    oversized_payload,
    icmp_tunnel,
    ping_sweep,
    icmp_flood,
    fragment_anomaly,
)

#: rule id -> module (with METADATA, Tunables and Detector)
RULES: dict[str, ModuleType] = {module.METADATA.id: module for module in RULE_MODULES}
RULE_IDS: tuple[str, ...] = tuple(RULES)


def metadata(rule_id: str) -> RuleMetadata:
    return RULES[rule_id].METADATA


def load_rule_settings(rules_section: dict[str, Any] | None) -> dict[str, RuleTunables]:
    """Validate the ``[rules.<id>]`` sections; every rule gets its tunables (defaults if absent).

    Raises ConfigError with one line naming the rule and the field for an unknown rule id or a
    bad tunable.
    """
    section = rules_section or {}
    unknown = [rule_id for rule_id in section if rule_id not in RULES]
    if unknown:
        raise ConfigError(
            f"unknown rule id {unknown[0]!r} in [rules] (known: {', '.join(RULE_IDS)})"
        )
    tunables: dict[str, RuleTunables] = {}
    for rule_id, module in RULES.items():
        raw = section.get(rule_id) or {}
        if not isinstance(raw, dict):
            raise ConfigError(f"[rules.{rule_id}] must be a table of tunables")
        try:
            tunables[rule_id] = module.Tunables(**raw)
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(part) for part in err["loc"]) or "(section)"
            raise ConfigError(f"invalid [rules.{rule_id}] {where}: {err['msg']}") from None
    return tunables


def build_detectors(
    tunables: dict[str, RuleTunables], internal: InternalNetworks | None = None
) -> list[Detector]:
    """One detector per enabled rule, in registry order (the order findings are produced in),
    each knowing the configured internal networks (``[networks] internal``)."""
    detectors = [RULES[rule_id].Detector(t) for rule_id, t in tunables.items() if t.enabled]
    if internal is not None:
        for detector in detectors:
            detector.internal = internal
    return detectors


__all__ = [
    "RULES",
    "RULE_IDS",
    "RULE_MODULES",
    "build_detectors",
    "load_rule_settings",
    "metadata",
]

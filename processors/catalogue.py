"""The rules catalogue as documentation: a markdown table and per-rule tunables, from the code.

``python -m processors.catalogue`` prints what the README shows, so the docs cannot drift
from the defaults the engine really uses.
"""

from __future__ import annotations

from processors.rules import RULES
from processors.ruleskit.base import RuleTunables

_COMMON = set(RuleTunables.model_fields)


def _default(field) -> str:
    value = field.get_default(call_default_factory=True)
    if isinstance(value, list) and len(value) > 4:
        return f"[{', '.join(map(str, value[:3]))}, ...] ({len(value)})"
    return repr(value) if isinstance(value, str) else str(value)


def key_tunables(rule_id: str) -> str:
    fields = RULES[rule_id].Tunables.model_fields
    return "; ".join(
        f"`{name}`={_default(field)}" for name, field in fields.items() if name not in _COMMON
    )


def markdown_table() -> str:
    lines = [
        "| id | severity | status (rev) | ATT&CK | what fires it | key tunables (defaults) |",
        "|---|---|---|---|---|---|",
    ]
    for rule_id, module in RULES.items():
        meta = module.METADATA
        lines.append(
            f"| `{rule_id}` | {meta.severity} | {meta.status} ({meta.rev})"
            f" | {', '.join(meta.attack)} | {meta.description}"
            f" | {key_tunables(rule_id)} |"
        )
    return "\n".join(lines)


def tunables_reference() -> str:
    """Every tunable of every rule with its default and description, as markdown."""
    out = ["Every rule also takes: " + ", ".join(f"`{n}`" for n in RuleTunables.model_fields) + ".", ""]
    for rule_id, module in RULES.items():
        out.append(f"### `[rules.{rule_id}]`")
        for name, field in module.Tunables.model_fields.items():
            if name in _COMMON:
                continue
            out.append(f"- `{name}` = {_default(field)}: {field.description}")
        out.append("")
    return "\n".join(out)


if __name__ == "__main__":
    print(markdown_table())
    print()
    print(tunables_reference())

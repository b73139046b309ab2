"""The files that restate the rule registry, generated from it: one source for each fact.

=============================================  ==================================================
``schemas/alert.schema.json``                  ``rule_id``'s enum: every registered rule id
``helm/oddping/values.schema.json``            ``rules``: one object per rule, its properties
                                               from the rule's ``Tunables`` (model_json_schema),
                                               so Helm rejects a mistyped rule or tunable
``README.md`` (between the GENERATED markers)  the rules catalogue table (processors.rules.
                                               catalogue.markdown_table)
=============================================  ==================================================

``make generate`` (``python -m processors.generated --write``) rewrites them;
``python -m processors.generated --check`` (and tests/test_generated.py) fails when one is stale.
A new rule, or a changed tunable or metadata, needs only ``make generate`` afterwards.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
COMMAND = "make generate (python -m processors.generated --write)"

ALERT_SCHEMA = Path("schemas/alert.schema.json")
VALUES_SCHEMA = Path("helm/oddping/values.schema.json")
README = Path("README.md")

BEGIN = "<!-- BEGIN GENERATED: rules catalogue; edit the rule modules, then run `make generate` -->"
END = "<!-- END GENERATED: rules catalogue -->"


def alert_schema(text: str) -> str:
    """The alert schema with ``rule_id``'s enum set to the registry's ids (the rest untouched:
    the file keeps its one-property-a-line layout)."""
    from processors.rules import RULE_IDS

    pattern = re.compile(r'("rule_id": \{"enum": )\[[^\]]*\]')
    if not pattern.search(text):
        raise SystemExit(f'{ALERT_SCHEMA}: no "rule_id": {{"enum": [...]}} to regenerate')
    return pattern.sub(lambda m: m.group(1) + json.dumps(list(RULE_IDS)), text, count=1)


def _without_titles(node: Any) -> Any:
    """Pydantic's schema minus its generated ``title`` keys (noise in a values schema)."""
    if isinstance(node, dict):
        return {k: _without_titles(v) for k, v in node.items()
                if not (k == "title" and isinstance(v, str))}
    if isinstance(node, list):
        return [_without_titles(v) for v in node]
    return node


def _inline_refs(node: Any, defs: dict[str, Any]) -> Any:
    """Replace ``{"$ref": "#/$defs/X"}`` by X: the rule's schema is nested in the chart's, where
    a reference to the document's root would not resolve."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            return _inline_refs(defs[ref.removeprefix("#/$defs/")], defs)
        return {k: _inline_refs(v, defs) for k, v in node.items() if k != "$defs"}
    if isinstance(node, list):
        return [_inline_refs(v, defs) for v in node]
    return node


def rule_values_schema() -> dict[str, Any]:
    """The chart's ``rules`` value: rule id -> the JSON Schema of that rule's ``Tunables``."""
    from processors.rules import RULES

    properties = {}
    for rule_id, module in RULES.items():
        schema = module.Tunables.model_json_schema()
        schema = _without_titles(_inline_refs(schema, schema.get("$defs", {})))
        properties[rule_id] = {
            "type": "object",
            "description": f"{module.METADATA.title}: [rules.{rule_id}], passed verbatim",
            "properties": schema["properties"],
            "additionalProperties": False,
        }
    return {
        "type": "object",
        "description": "rule id -> tunables, passed verbatim to [rules.<id>] (generated from "
                       "each rule's Tunables: make generate)",
        "properties": properties,
        "additionalProperties": False,
    }


def values_schema(text: str) -> str:
    document = json.loads(text)
    document["properties"]["rules"] = rule_values_schema()
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def readme(text: str) -> str:
    from processors.catalogue import markdown_table

    start, end = text.find(BEGIN), text.find(END)
    if start < 0 or end < start:
        raise SystemExit(f"{README}: the markers {BEGIN!r} ... {END!r} are missing")
    return text[:start] + BEGIN + "\n" + markdown_table() + "\n" + text[end:]


#: file -> its regenerated text, from its current text
GENERATORS: dict[Path, Callable[[str], str]] = {
    ALERT_SCHEMA: alert_schema,
    VALUES_SCHEMA: values_schema,
    README: readme,
}


def stale(root: Path = ROOT) -> list[Path]:
    """The generated files whose content differs from what the registry gives now."""
    return [path for path, generate in GENERATORS.items()
            if generate((root / path).read_text()) != (root / path).read_text()]


def write(root: Path = ROOT) -> list[Path]:
    changed = []
    for path, generate in GENERATORS.items():
        current = (root / path).read_text()
        fresh = generate(current)
        if fresh != current:
            (root / path).write_text(fresh)
            changed.append(path)
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m processors.generated", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--write", action="store_true", help="regenerate the files")
    action.add_argument("--check", action="store_true", help="exit 1 if one is stale")
    args = parser.parse_args(argv)
    if args.write:
        changed = write()
        print("regenerated: " + (", ".join(map(str, changed)) or "nothing (all up to date)"))
        return 0
    old = stale()
    if old:
        print(f"stale: {', '.join(map(str, old))}; run {COMMAND}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

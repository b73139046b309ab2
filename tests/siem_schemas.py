"""Check SIEM documents against the published definitions they claim to follow.

* ECS 8.17.0: ``tests/data/ecs-8.17.0/ecs_flat.yml`` (every field with its type, normalisation
  and allowed values).  A document's fields must be ECS fields of the right type, array or single
  as ECS normalises them, with allowed/expected values, pattern and ignore_above honoured, and
  event.type fitting event.category; or live under a custom namespace (ECS allows custom fields
  outside its own field sets, and leaves their names and types to the producer).
* OCSF 1.3.0: the schema sources in ``tests/data/ocsf-1.3.0/`` compiled by OCSF's own library
  (``ocsf-lib``: it resolves ``extends``, ``$include`` and profiles as the OCSF server does).
  Every attribute must exist in its class or object, with the dictionary's type (recursively for
  objects), enum ids the schema defines, enum captions matching their ``_id`` siblings, every
  ``required`` attribute present, the objects' ``at_least_one``/``just_one`` constraints met and
  every observable naming an attribute of the event, of its type.

The checks know nothing of oddping's own field lists: a new field in the renderers is checked
as soon as it is rendered.  Each check returns a list of one-line problems (empty: valid).
"""

from __future__ import annotations

import functools
import ipaddress
import json
import re
from pathlib import Path
from typing import Any

import yaml

DATA = Path(__file__).parent / "data"
ECS_VERSION = "8.17.0"
ECS_DIR = DATA / f"ecs-{ECS_VERSION}"
OCSF_DIR = DATA / "ocsf-1.3.0"

# --------------------------------------------------------------------------------------- ECS

#: ECS ``date``: Elasticsearch's strict_date_optional_time as ECS documents use it (UTC, up to ns)
_ECS_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$")
_INT64 = (-(2**63), 2**63 - 1)


def _is_int(value: Any, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _is_ip(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


#: ECS field type -> what a JSON value of that type is (Elasticsearch's mapping types)
ECS_TYPES = {
    "keyword": lambda v: isinstance(v, str),
    "constant_keyword": lambda v: isinstance(v, str),
    "wildcard": lambda v: isinstance(v, str),
    "match_only_text": lambda v: isinstance(v, str),
    "text": lambda v: isinstance(v, str),
    "ip": _is_ip,
    "long": lambda v: _is_int(v, *_INT64),
    "float": _is_number,
    "scaled_float": _is_number,
    "boolean": lambda v: isinstance(v, bool),
    "date": lambda v: isinstance(v, str) and _ECS_DATE.match(v) is not None,
    "geo_point": lambda v: isinstance(v, (dict, str, list)),
    "object": lambda v: isinstance(v, dict),
    "flattened": lambda v: isinstance(v, dict),
    "nested": lambda v: isinstance(v, dict),
}


@functools.cache
def ecs_fields() -> dict[str, dict[str, Any]]:
    with open(ECS_DIR / "ecs_flat.yml", encoding="utf-8") as f:
        return yaml.load(f, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


@functools.cache
def _ecs_prefixes() -> frozenset[str]:
    """Every intermediate object name of ECS (``event``, ``threat.technique`` ...)."""
    out = set()
    for name in ecs_fields():
        parts = name.split(".")
        out.update(".".join(parts[:i]) for i in range(1, len(parts)))
    return frozenset(out)


def _allowed(field: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {a["name"]: a for a in field.get("allowed_values", [])}


def _ecs_leaf(path: str, value: Any, field: dict[str, Any], problems: list[str]) -> None:
    kind = field["type"]
    is_array = "array" in field.get("normalize", [])
    if isinstance(value, list) != is_array:
        problems.append(
            f"{path}: ECS normalises it to {'an array' if is_array else 'a single value'}, got {value!r}"
        )
    values = value if isinstance(value, list) else [value]
    for item in values:
        if not ECS_TYPES[kind](item):
            problems.append(f"{path}: not an ECS {kind}: {item!r}")
    allowed = _allowed(field)
    if allowed:
        for item in values:
            if item not in allowed:
                problems.append(f"{path}: {item!r} is not an allowed value ({', '.join(allowed)})")
    if "pattern" in field:
        for item in values:
            if isinstance(item, str) and re.search(field["pattern"], item) is None:
                problems.append(f"{path}: {item!r} does not match ECS's pattern {field['pattern']}")
    if "ignore_above" in field:  # Elasticsearch would keep a longer keyword unindexed
        for item in values:
            if isinstance(item, str) and len(item) > field["ignore_above"]:
                problems.append(f"{path}: longer than ECS's ignore_above {field['ignore_above']}")
    expected = field.get("expected_values")
    if expected:
        for item in values:
            if item not in expected:
                problems.append(f"{path}: {item!r} is not an expected value ({', '.join(expected)})")


def _ecs_walk(
    doc: dict[str, Any], prefix: str, custom: frozenset[str], seen: set[str], problems: list[str]
) -> None:
    fields = ecs_fields()
    for key, value in doc.items():
        path = f"{prefix}{key}"
        seen.add(path)
        if path.split(".")[0] in custom:
            continue  # a custom field set: its names and types are the producer's own
        field = fields.get(path)
        if field is None:
            if isinstance(value, dict) and path in _ecs_prefixes():
                _ecs_walk(value, path + ".", custom, seen, problems)
            else:
                problems.append(f"{path}: not an ECS {ECS_VERSION} field")
            continue
        kind = field["type"]
        if kind in ("object", "flattened"):
            if not isinstance(value, dict):
                problems.append(f"{path}: ECS {kind} needs an object, got {value!r}")
            elif "object_type" in field:  # e.g. labels: an object of keywords
                for sub, item in value.items():
                    if not ECS_TYPES[field["object_type"]](item):
                        problems.append(f"{path}.{sub}: not an ECS {field['object_type']}: {item!r}")
            elif path in _ecs_prefixes():
                _ecs_walk(value, path + ".", custom, seen, problems)
        elif kind == "nested":
            items = value if isinstance(value, list) else [value]
            for item in items:
                if not isinstance(item, dict):
                    problems.append(f"{path}: ECS nested needs objects, got {item!r}")
                else:
                    _ecs_walk(item, path + ".", custom, seen, problems)
        else:
            _ecs_leaf(path, value, field, problems)


def ecs_problems(doc: dict[str, Any], custom: tuple[str, ...] = ("oddping",)) -> list[str]:
    """What in ``doc`` contradicts ECS; ``custom`` are the producer's custom field sets."""
    fields = ecs_fields()
    problems = []
    for name in custom:
        clash = [f for f in fields if f == name or f.startswith(name + ".")]
        if clash:
            problems.append(f"{name}: custom namespace clashes with ECS fields {clash[:3]}")
    seen: set[str] = set()
    _ecs_walk(doc, "", frozenset(custom), seen, problems)
    for name, field in fields.items():
        if field.get("required") and name not in seen:
            problems.append(f"{name}: required by ECS, missing")
    version = doc.get("ecs", {}).get("version")
    if version != ECS_VERSION:
        problems.append(f"ecs.version: {version!r}, but checked against ECS {ECS_VERSION}")
    problems += _event_type_fits_category(doc.get("event", {}))
    return problems


def _as_list(value: Any) -> list[Any]:
    return [value] if isinstance(value, str) else list(value or [])


def _event_type_fits_category(event: dict[str, Any]) -> list[str]:
    """ECS lists for each event.category the event.type values expected with it."""
    categories, types = _as_list(event.get("category")), _as_list(event.get("type"))
    allowed = _allowed(ecs_fields()["event.category"])
    problems = []
    for category in categories:
        expected = allowed.get(category, {}).get("expected_event_types")
        if expected and types and not set(types) & set(expected):
            problems.append(f"event.type: none of {types} is expected with event.category {category!r}")
    for kind in types:
        if categories and not any(
            kind in (allowed.get(c, {}).get("expected_event_types") or ()) for c in categories
        ):
            problems.append(f"event.type: {kind!r} is expected with none of the categories {categories}")
    return problems


# -------------------------------------------------------------------------------------- OCSF

#: OCSF timestamp_t is "milliseconds since the Epoch" (its dictionary entry).  Accept the
#: millisecond values of 2001-09-09 .. 2286-11-20, so seconds or nanoseconds are caught.
TIMESTAMP_MS = (10**12, 10**13 - 1)

#: the dictionary's base types (those with no parent type) -> what a JSON value of them is
OCSF_BASE_TYPES = {
    "string_t": lambda v: isinstance(v, str),
    "integer_t": lambda v: _is_int(v, -(2**31), 2**31 - 1),
    "long_t": lambda v: _is_int(v, *_INT64),
    "float_t": _is_number,
    "boolean_t": lambda v: isinstance(v, bool),
    "json_t": lambda v: True,
    "object": lambda v: isinstance(v, dict),  # ``unmapped``: any object
}


@functools.cache
def ocsf_schema():
    """OCSF 1.3.0 compiled from its vendored sources by ocsf-lib (all profiles available)."""
    from ocsf.compile.compiler import Compilation
    from ocsf.compile.options import CompilationOptions
    from ocsf.repository import read_repo

    repo = read_repo(str(OCSF_DIR), preserve_raw_data=False)
    return Compilation(repo, CompilationOptions(set_observable=True)).build()


def _type_chain(name: str) -> list[Any]:
    """A dictionary type and its parents (ip_t -> string_t)."""
    types = ocsf_schema().types
    chain = []
    while name in types:
        chain.append(types[name])
        name = types[name].type
        if name is None:
            break
    return chain


def _ocsf_scalar(path: str, type_name: str, value: Any) -> list[str]:
    chain = _type_chain(type_name)
    names = [type_name] + [t.type for t in chain if t.type]
    base = next((n for n in names if n in OCSF_BASE_TYPES), None)
    if base is None:
        return [f"{path}: unknown OCSF type {type_name}"]
    if not OCSF_BASE_TYPES[base](value):
        return [f"{path}: not an OCSF {type_name} ({base}): {value!r}"]
    problems = []
    for t in chain:
        if t.regex and isinstance(value, str) and re.search(t.regex, value) is None:
            problems.append(f"{path}: {value!r} does not match {type_name}'s pattern")
        if t.max_len and isinstance(value, str) and len(value) > t.max_len:
            problems.append(f"{path}: longer than {type_name}'s {t.max_len} characters")
        if t.range and not t.range[0] <= value <= t.range[1]:
            problems.append(f"{path}: {value!r} outside {type_name}'s range {t.range}")
        if t.values and value not in t.values:
            problems.append(f"{path}: {value!r} not one of {type_name}'s values {t.values}")
    if type_name == "ip_t" and not _is_ip(value):
        problems.append(f"{path}: {value!r} is not an IP address")
    if type_name == "timestamp_t" and not TIMESTAMP_MS[0] <= value <= TIMESTAMP_MS[1]:
        problems.append(f"{path}: {value!r} is not milliseconds since the epoch")
    return problems


@functools.cache
def _sources() -> dict[str, dict[str, Any]]:
    """The vendored class and object definitions as written, by name."""
    out = {}
    for path in sorted(OCSF_DIR.glob("events/**/*.json")) + sorted(OCSF_DIR.glob("objects/*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        out.setdefault(data.get("name", path.stem), data)
    return out


def _declared_constraints(name: str) -> dict[str, list[str]]:
    """A definition's own constraints, else those it inherits through ``extends``.

    As the OCSF server does: a child's constraints replace its parent's.  (ocsf-lib 0.10.4
    merges them the other way round: network_endpoint would get _entity's [name, uid].)
    """
    sources = _sources()
    while name in sources:
        if "constraints" in sources[name]:
            return sources[name]["constraints"]
        name = sources[name].get("extends")
    return {}


def _object_name(attr: Any) -> str | None:
    objects = ocsf_schema().objects
    if attr.object_type and attr.object_type in objects:
        return attr.object_type
    return attr.type if attr.type in objects else None


def _ocsf_value(path: str, attr: Any, value: Any, profiles: set[str]) -> list[str]:
    obj = _object_name(attr)
    if obj == "object":  # OCSF's generic Object (``unmapped``): any attributes
        return [] if isinstance(value, dict) else [f"{path}: OCSF object needs a JSON object"]
    if obj is not None:
        if not isinstance(value, dict):
            return [f"{path}: OCSF object {obj} needs a JSON object, got {value!r}"]
        return _ocsf_object(path + ".", ocsf_schema().objects[obj], value, profiles)
    problems = _ocsf_scalar(path, attr.type, value)
    if attr.enum and not problems and str(value) not in attr.enum:
        problems.append(f"{path}: {value!r} is not one of its enum ids {sorted(attr.enum, key=int)}")
    return problems


def _ocsf_object(prefix: str, definition: Any, doc: dict[str, Any], profiles: set[str]) -> list[str]:
    """``doc`` against a compiled class or object (its ``attributes`` and ``constraints``)."""
    attributes = definition.attributes
    problems = []
    for key, value in doc.items():
        path = f"{prefix}{key}"
        attr = attributes.get(key)
        if attr is None:
            problems.append(f"{path}: not an attribute of OCSF {definition.name}")
            continue
        if attr.profile and attr.profile not in profiles:
            problems.append(f"{path}: belongs to profile {attr.profile}, not in metadata.profiles")
        if attr.deprecated:
            problems.append(f"{path}: deprecated in OCSF {ocsf_schema().version}")
        if attr.is_array:
            if not isinstance(value, list):
                problems.append(f"{path}: OCSF array, got {value!r}")
                continue
            for i, item in enumerate(value):
                problems += _ocsf_value(f"{path}[{i}]", attr, item, profiles)
        elif isinstance(value, list):
            problems.append(f"{path}: not an OCSF array, got a list")
        else:
            problems += _ocsf_value(path, attr, value, profiles)
        if attr.sibling and attr.enum and key.endswith("_id") and attr.sibling in doc:
            caption = attr.enum.get(str(value))
            # 99 (Other): the sibling carries the source's own name for it
            if caption is not None and value != 99 and doc[attr.sibling] != caption.caption:
                problems.append(
                    f"{prefix}{attr.sibling}: {doc[attr.sibling]!r}, but {key} {value} is {caption.caption!r}"
                )
    for key, attr in attributes.items():
        applies = attr.profile is None or attr.profile in profiles
        if attr.requirement == "required" and applies and key not in doc:
            problems.append(f"{prefix}{key}: required by OCSF {definition.name}, missing")
    constraints = _declared_constraints(definition.name)
    at_least_one = constraints.get("at_least_one")
    if at_least_one and not any(n in doc for n in at_least_one):
        problems.append(f"{prefix.rstrip('.') or definition.name}: needs at least one of {at_least_one}")
    just_one = constraints.get("just_one")
    if just_one and sum(n in doc for n in just_one) != 1:
        problems.append(f"{prefix.rstrip('.') or definition.name}: needs exactly one of {just_one}")
    return problems


_INDEX = re.compile(r"\[\d*\]$")


def _observed_attribute(event: Any, name: str) -> Any:
    """The attribute an observable's ``name`` points at (``file.name``, ``evidences[].file.name``,
    ``evidences[0].file.name``, ``evidences.file.name``), or None."""
    definition, attr = event, None
    for segment in name.split("."):
        if definition is None:
            return None
        attr = definition.attributes.get(_INDEX.sub("", segment))
        if attr is None:
            return None
        obj = _object_name(attr)
        definition = ocsf_schema().objects[obj] if obj else None
    return attr


def _observables(event: Any, doc: dict[str, Any]) -> list[str]:
    """An observable names an attribute of the event whose observable type is its type_id, and
    its value is of the dictionary type that type_id stands for (2: ip_t ...)."""
    by_id = {t.observable: name for name, t in ocsf_schema().types.items() if t.observable}
    problems = []
    for i, observable in enumerate(doc.get("observables") or []):
        type_id, name = observable.get("type_id"), observable.get("name", "")
        attr = _observed_attribute(event, name)
        if attr is None:
            problems.append(f"observables[{i}].name: {name!r} is no attribute of {event.name}")
        elif attr.observable is not None and attr.observable != type_id:
            problems.append(f"observables[{i}].type_id: {type_id}, but {name} is observable {attr.observable}")
        type_name = by_id.get(type_id)
        if type_name and "value" in observable:
            problems += _ocsf_scalar(f"observables[{i}].value", type_name, observable["value"])
    return problems


def ocsf_problems(doc: dict[str, Any], class_name: str = "detection_finding") -> list[str]:
    """What in ``doc`` contradicts OCSF 1.3.0's ``class_name`` (with the profiles it names)."""
    schema = ocsf_schema()
    event = schema.classes[class_name]
    profiles = set(doc.get("metadata", {}).get("profiles") or [])
    problems = [f"metadata.profiles: {p} is not an OCSF profile" for p in profiles - set(schema.profiles)]
    problems += _ocsf_object("", event, doc, profiles)
    version = doc.get("metadata", {}).get("version")
    if version != schema.version:
        problems.append(f"metadata.version: {version!r}, but checked against OCSF {schema.version}")
    if "activity_id" in doc and doc.get("type_uid") != event.uid * 100 + doc["activity_id"]:
        problems.append(f"type_uid: {doc.get('type_uid')!r} is not class_uid * 100 + activity_id")
    if doc.get("class_name", event.caption) != event.caption:
        problems.append(f"class_name: {doc['class_name']!r}, the class is {event.caption!r}")
    return problems + _observables(event, doc)

"""JSON-Schema validation of events: a compiled validator decides, python-jsonschema explains.

The schemas in schemas/ are the single source of truth for what a valid event is. Deciding
"valid or not" runs on jsonschema-rs (compiled, > 1M checks/s); only an event that fails is
handed to python-jsonschema, whose error objects carry the paths and sub-errors that make a
readable message. Both are imported on first use, so importing this module costs nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from typing import Any

from kitty_hooks.assets import schema_dir
from kitty_hooks.errors import FatalError

SCHEMA_BASE_URI = "https://kitty-hooks.invalid/schemas/"

LOG_LINE_SCHEMA = "status-log-line.schema.json"
ENVELOPE_SCHEMA = "event-envelope.schema.json"
TRANSITION_PAYLOAD_SCHEMA = "status-transition-payload.schema.json"


@dataclass(frozen=True)
class SchemaViolation:
    """One way an instance breaks its schema, in words for a person."""

    json_path: str
    problem: str
    got: str
    expected: str

    def render(self) -> str:
        return f"{self.json_path}: {self.problem} (got {self.got}, expected {self.expected})"


@cache
def load_schemas() -> dict[str, dict[str, Any]]:
    """Every schema file by file name."""
    schemas: dict[str, dict[str, Any]] = {}
    for path in sorted(schema_dir().glob("*.schema.json")):
        try:
            schemas[path.name] = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise FatalError(f"{path}: cannot read the bundled schema ({exc}): reinstall") from exc
    return schemas


@cache
def _fast_validator(schema_name: str) -> Any:
    import jsonschema_rs

    schemas = load_schemas()
    registry = jsonschema_rs.Registry(
        [(SCHEMA_BASE_URI + name, schema) for name, schema in schemas.items()]
    )
    return jsonschema_rs.validator_for(schemas[schema_name], registry=registry)


@cache
def _explaining_validator(schema_name: str) -> Any:
    import jsonschema
    from referencing import Registry
    from referencing.jsonschema import DRAFT202012

    schemas = load_schemas()
    registry: Registry[Any] = Registry().with_resources(
        (SCHEMA_BASE_URI + name, DRAFT202012.create_resource(schema))
        for name, schema in schemas.items()
    )
    return jsonschema.Draft202012Validator(schemas[schema_name], registry=registry)


def is_valid(schema_name: str, instance: Any) -> bool:
    return bool(_fast_validator(schema_name).is_valid(instance))


def explain(schema_name: str, instance: Any) -> list[SchemaViolation]:
    """Why an instance is invalid: the most relevant violation first, [] when it is valid."""
    from jsonschema.exceptions import relevance

    errors = sorted(_explaining_validator(schema_name).iter_errors(instance), key=relevance)
    # relevance() sorts the weakest match first; the best match is last.
    return [_describe(schema_name, _deepest_useful(error)) for error in reversed(errors)]


def _deepest_useful(error: Any) -> Any:
    # An anyOf/oneOf that carries its own description ("a canonical lane, or null") already says
    # it best; one without is explained by the best of its branches.
    while error.validator in ("anyOf", "oneOf") and error.context:
        if isinstance(error.schema, dict) and "description" in error.schema:
            break
        from jsonschema.exceptions import best_match

        error = best_match(error.context)
    return error


_PROBLEM_BY_KEYWORD = {
    "type": "wrong type",
    "enum": "unknown value",
    "const": "wrong value",
    "pattern": "wrong format",
    "minLength": "empty",
    "minimum": "out of range",
    "maximum": "out of range",
    "minItems": "too few items",
    "anyOf": "invalid value",
    "oneOf": "invalid value",
    "not": "not allowed",
    "additionalProperties": "unexpected field",
}


def _describe(schema_name: str, error: Any) -> SchemaViolation:
    try:
        return _word(schema_name, error)
    except (KeyError, IndexError, TypeError, ValueError):  # wording an error must not fail
        return SchemaViolation(
            error.json_path, "invalid", render_value(error.instance), error.message
        )


def _word(schema_name: str, error: Any) -> SchemaViolation:
    found = _walk(
        load_schemas()[schema_name],
        schema_name,
        list(error.absolute_schema_path),
        None,
        error.validator_value,
    )
    node, file, described = found if found is not None else ({}, schema_name, None)
    if error.validator == "required":
        missing = next(
            (name for name in error.validator_value if name not in error.instance),
            str(error.validator_value),
        )
        field_schema = node.get("properties", {}).get(missing, {}) if isinstance(node, dict) else {}
        return SchemaViolation(
            json_path=_child_path(error.json_path, missing),
            problem="missing",
            got="nothing",
            expected=_description_of(file, field_schema) or "a value",
        )
    problem = _PROBLEM_BY_KEYWORD.get(error.validator, f"fails {error.validator}")
    return SchemaViolation(
        json_path=error.json_path,
        problem="empty" if error.instance in ("", None) else problem,
        got=render_value(error.instance),
        expected=described or _expected_from_keyword(error),
    )


def _walk(
    node: Any, file: str, keys: list[Any], described: str | None, keyword_value: Any
) -> tuple[Any, str, str | None] | None:
    """Follow an error's schema path to the schema that holds the failing keyword.

    Returns that schema, the file it is in, and the outermost description met since the path
    last stepped into a child of the instance (properties/<name>, items): so a rule's own words
    ("because force is true") win over those of the type it refers to ("a non-empty string").
    python-jsonschema leaves $ref hops out of the path, so where a key is not found the walk
    follows the node's $ref, and backtracks when a key exists on both sides; the failing
    keyword's own value (keyword_value) tells which side is meant.
    """
    # A schema file's own description documents the file; it does not say what a value should be.
    if described is None and isinstance(node, dict) and node is not load_schemas().get(file):
        described = node.get("description")
    key, rest = keys[0], keys[1:]
    if not rest:
        if _has(node, key) and node[key] == keyword_value:
            return node, file, described
    elif _has(node, key):
        child, child_described = node[key], described
        if key in ("properties", "patternProperties", "prefixItems"):
            if _has(child, rest[0]):
                child, rest, child_described = child[rest[0]], rest[1:], None
            else:
                rest = []
        elif key in ("items", "additionalProperties"):
            child_described = None
        found = _walk(child, file, rest, child_described, keyword_value) if rest else None
        if found is not None:
            return found
    if isinstance(node, dict) and isinstance(node.get("$ref"), str):
        target, target_file = _resolve_ref(file, node["$ref"])
        return _walk(target, target_file, keys, described, keyword_value)
    return None


def _has(node: Any, key: Any) -> bool:
    if isinstance(node, dict):
        return key in node
    return isinstance(node, list) and isinstance(key, int) and 0 <= key < len(node)


def _resolve_ref(current_file: str, ref: str) -> tuple[Any, str]:
    file_part, _, fragment = ref.partition("#")
    target_file = file_part or current_file
    node: Any = load_schemas()[target_file]
    for part in (p for p in fragment.split("/") if p):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node, target_file


def _description_of(file: str, node: Any) -> str | None:
    """A schema's description, looking through $refs until one has it."""
    for _ in range(16):
        if not isinstance(node, dict):
            return None
        if isinstance(node.get("description"), str):
            return node["description"]
        if not isinstance(node.get("$ref"), str):
            return None
        node, file = _resolve_ref(file, node["$ref"])
    return None


def _expected_from_keyword(error: Any) -> str:
    value = error.validator_value
    keyword = error.validator
    if keyword == "type":
        return f"a value of type {' or '.join(value) if isinstance(value, list) else value}"
    if keyword == "enum":
        return "one of " + ", ".join(render_value(v) for v in value)
    if keyword == "const":
        return render_value(value)
    if keyword == "pattern":
        return f"a string matching {value}"
    if keyword == "minLength":
        return f"at least {value} character{'s' if value != 1 else ''}"
    if keyword == "minimum":
        return f"a number >= {value}"
    if keyword == "maximum":
        return f"a number <= {value}"
    if keyword == "minItems":
        return f"at least {value} item{'s' if value != 1 else ''}"
    return str(error.message)


def _child_path(parent: str, name: str) -> str:
    if name.isidentifier():
        return f"{parent}.{name}"
    return f"{parent}[{json.dumps(name)}]"


def render_value(value: Any, *, limit: int = 80) -> str:
    """A short JSON rendering of a value for an error line."""
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return text

"""JSON-Schema validation of events: one compiled validator decides and explains.

The schemas in schemas/ are the single source of truth for what a valid event is. jsonschema-rs
(compiled, > 1M checks/s) decides "valid or not". For an event that fails, the same validator's
errors carry the path through the schemas ($ref hops included). That path is walked to find the
words a person reads: the field, what was wrong, and the description of what was expected. So a
file whose every line is invalid costs a small multiple of an all-valid one. With a second,
pure-Python validator to explain each failure, it cost ~50x.
"""

from __future__ import annotations

import json
import re
import sys
from functools import cache
from typing import TYPE_CHECKING, Any, NamedTuple

from kitty_hooks.assets import schema_dir
from kitty_hooks.errors import FatalError
from kitty_hooks.wording import plural

if TYPE_CHECKING:
    from kitty_hooks.model.events import Envelope

SCHEMA_BASE_URI = "https://kitty-hooks.invalid/schemas/"

LOG_LINE_SCHEMA = "status-log-line.schema.json"
LOG_ENVELOPE_SCHEMA = "log-envelope-line.schema.json"
LOG_RECORD_SCHEMA = "log-record-line.schema.json"
ENVELOPE_SCHEMA = "event-envelope.schema.json"
TRANSITION_PAYLOAD_SCHEMA = "status-transition-payload.schema.json"


class SchemaViolation(NamedTuple):
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
def common_pattern(name: str) -> re.Pattern[str]:
    """The pattern of a shared value type (feature_slug, wp_id, ulid, ...) in common.schema.json.

    Read from that one file (the hook path needs a few patterns, not every schema parsed)."""
    return re.compile(_common_defs()[name]["pattern"])


@cache
def _common_defs() -> dict[str, Any]:
    path = schema_dir() / "common.schema.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))["$defs"]
    except (OSError, ValueError, KeyError) as exc:
        raise FatalError(f"{path}: cannot read the bundled schema ({exc}): reinstall") from exc


@cache
def validator(schema_name: str) -> Any:
    """The compiled jsonschema-rs validator of a schema (its is_valid, for hot loops)."""
    import jsonschema_rs

    schemas = load_schemas()
    registry = jsonschema_rs.Registry(
        [(SCHEMA_BASE_URI + name, schema) for name, schema in schemas.items()]
    )
    return jsonschema_rs.validator_for(schemas[schema_name], registry=registry)


# The most events a process judges with check.verdicts (plain Python, ~40 us an event) before
# it loads jsonschema-rs (~25 ms to import, then ~1 us an event): a commit's few lines never
# load it, a whole repository's diagnose does at once.
LIGHT_EVENTS = 200
_light_left = [LIGHT_EVENTS]


def judge_lightly(count: int) -> bool:
    """Whether `count` more events are judged in plain Python (check.verdicts), which then
    counts them; no once jsonschema-rs is loaded anyway (an event failed and was explained)."""
    if "jsonschema_rs" in sys.modules or count > _light_left[0]:
        return False
    _light_left[0] -= count
    return True


class _LightValidator:
    """is_valid from check.verdicts: the same verdicts as the compiled validator's is_valid."""

    def __init__(self, check: Any) -> None:
        self.is_valid = check


@cache
def _light_validator(schema_name: str) -> _LightValidator | None:
    from kitty_hooks.check import verdicts

    try:
        return _LightValidator(_verdict_compiler().check_of(schema_name))
    except verdicts.Unsupported:
        return None  # a keyword it does not judge: jsonschema-rs judges


@cache
def _verdict_compiler() -> Any:
    from kitty_hooks.check import verdicts

    return verdicts.Compiler(load_schemas())


def validator_for(schema_name: str, *, light: bool) -> Any:
    """Something with is_valid(instance): check.verdicts' when light (and it judges that
    schema), else the compiled validator. Failures are explained by explain() either way."""
    if light:
        found = _light_validator(schema_name)
        if found is not None:
            return found
    return validator(schema_name)


def is_valid(schema_name: str, instance: Any) -> bool:
    return judged_valid(validator(schema_name), instance)


def judged_valid(judge: Any, instance: Any) -> bool:
    """judge.is_valid(instance), for an instance that may hold a lone surrogate: json reads
    "\\ud800" into a str that jsonschema-rs cannot take (it raised UnicodeEncodeError). Judged
    as U+FFFD, as capture queues it: the same verdict for every keyword the schemas use."""
    try:
        return bool(judge.is_valid(instance))
    except UnicodeEncodeError:
        return bool(judge.is_valid(without_lone_surrogates(instance)))


def without_lone_surrogates(value: Any) -> Any:
    if isinstance(value, str):
        return value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    if isinstance(value, list):
        return [without_lone_surrogates(item) for item in value]
    if isinstance(value, dict):
        return {without_lone_surrogates(k): without_lone_surrogates(v) for k, v in value.items()}
    return value


def explain(schema_name: str, instance: Any) -> list[SchemaViolation]:
    """Why an instance is invalid, each distinct violation once; [] when it is valid.

    Errors come in the schema's order; the same words for the same field (an empty string fails
    both minLength and pattern) are said once.
    """
    violations: list[SchemaViolation] = []
    try:
        errors = list(validator(schema_name).iter_errors(instance))
    except UnicodeEncodeError:  # a lone surrogate: see judged_valid
        errors = list(validator(schema_name).iter_errors(without_lone_surrogates(instance)))
    for error in errors:
        violation = _describe(schema_name, _deepest_useful(schema_name, error))
        if violation not in violations:
            violations.append(violation)
    return violations


def _kind(error: Any) -> str:
    return type(error.kind).__name__


def _deepest_useful(schema_name: str, error: Any) -> Any:
    # An anyOf that carries its own description ("a ULID, or null") already says it best; one
    # without is explained by its most telling branch: one whose errors are not all type
    # mismatches at the same place (the branch that was meant), else the first.
    while _kind(error) == "AnyOf":
        node = _schema_at(schema_name, list(error.evaluation_path))
        if node is not None and "description" in node[0]:
            break
        branches = [list(branch) for branch in error.kind.context if branch]
        if not branches:
            break
        depth = len(list(error.instance_path))
        meant = [
            branch
            for branch in branches
            if not all(_kind(e) == "Type" and len(list(e.instance_path)) == depth for e in branch)
        ]
        error = (meant or branches)[0][0]
    return error


_PROBLEM_BY_KIND = {
    "Type": "wrong type",
    "Enum": "unknown value",
    "Constant": "wrong value",
    "Pattern": "wrong format",
    "MinLength": "empty",
    "Minimum": "out of range",
    "Maximum": "out of range",
    "MinItems": "too few items",
    "MinProperties": "empty",
    "AnyOf": "invalid value",
    "OneOfNotValid": "invalid value",
    "OneOfMultipleValid": "ambiguous value",
    "Not": "not allowed",
    "AdditionalProperties": "unexpected field",
    "FalseSchema": "not allowed",
}


def _describe(schema_name: str, error: Any) -> SchemaViolation:
    try:
        return _word(schema_name, error)
    except (KeyError, IndexError, TypeError, ValueError, AttributeError):
        # Wording an error must never fail: fall back to the validator's own message.
        return SchemaViolation(
            _json_path(error.instance_path), "invalid", render_value(error.instance), error.message
        )


def _word(schema_name: str, error: Any) -> SchemaViolation:
    found = _schema_at(schema_name, list(error.evaluation_path))
    node, file, described = found if found is not None else ({}, schema_name, None)
    kind = _kind(error)
    json_path = _json_path(error.instance_path)
    if kind == "Required":
        missing = str(error.kind.property)
        field_schema = node.get("properties", {}).get(missing, {}) if isinstance(node, dict) else {}
        return SchemaViolation(
            json_path=_child_path(json_path, missing),
            problem="missing",
            got="nothing",
            expected=_description_of(file, field_schema) or "a value",
        )
    problem = _PROBLEM_BY_KIND.get(kind, "invalid")
    return SchemaViolation(
        json_path=json_path,
        problem="empty" if error.instance in ("", None) else problem,
        got=render_value(error.instance),
        expected=described or _expected_from(kind, error),
    )


def _schema_at(schema_name: str, keys: list[Any]) -> tuple[Any, str, str | None] | None:
    """Cached by path: a file of failing events repeats the same few paths."""
    return _schema_at_path(schema_name, tuple(keys))


@cache
def _schema_at_path(schema_name: str, keys: tuple[Any, ...]) -> tuple[Any, str, str | None] | None:
    """Follow an error's evaluation path to the schema that holds the failing keyword.

    Returns that schema, the file it is in, and the outermost description met since the path
    last stepped into a child of the instance (properties/<name>, items): so a rule's own words
    ("because force is true") win over those of the type it refers to ("a non-empty string").
    """
    schemas = load_schemas()
    node: Any = schemas[schema_name]
    file = schema_name
    described: str | None = None
    *steps, _keyword = keys
    index = 0
    while index < len(steps):
        key = steps[index]
        if key == "$ref":
            node, file = _resolve_ref(file, node["$ref"])
        elif key in ("properties", "patternProperties"):
            node = node[key][steps[index + 1]]
            index += 1
            described = None
        elif key in ("items", "additionalProperties"):
            node = node[key]
            described = None
        elif key == "prefixItems":
            node = node[key][steps[index + 1]]
            index += 1
            described = None
        else:
            node = node[key]
        index += 1
        # A schema file's own description documents the file; it does not say what a value
        # should be.
        if (
            described is None
            and isinstance(node, dict)
            and node is not schemas.get(file)
            and isinstance(node.get("description"), str)
        ):
            described = node["description"]
    if not isinstance(node, dict):
        return None
    return node, file, described


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


def _expected_from(kind: str, error: Any) -> str:
    details = error.kind.as_dict()
    if kind == "Type":
        types = details.get("types") or details.get("type") or "?"
        if isinstance(types, (list, tuple)):
            types = " or ".join(str(t) for t in types)
        return f"a value of type {types}"
    if kind == "Enum":
        options = details.get("options")
        if isinstance(options, (list, tuple)):
            return "one of " + ", ".join(render_value(v) for v in options)
    if kind == "Constant":
        return render_value(details.get("expected_value"))
    if kind == "Pattern":
        return f"a string matching {details.get('pattern')}"
    if kind == "MinLength":
        return f"at least {_count(details.get('limit'), 'character')}"
    if kind in ("Minimum", "Maximum"):
        return f"a number {'>=' if kind == 'Minimum' else '<='} {details.get('limit')}"
    if kind == "MinItems":
        return f"at least {_count(details.get('limit'), 'item')}"
    return str(error.message)


def _count(limit: Any, word: str) -> str:
    return plural(limit, word) if type(limit) is int else f"{limit} {word}s"


def _json_path(instance_path: Any) -> str:
    path = "$"
    for part in instance_path:
        path = f"{path}[{part}]" if isinstance(part, int) else _child_path(path, str(part))
    return path


def _child_path(parent: str, name: str) -> str:
    if name.isidentifier():
        return f"{parent}.{name}"
    return f"{parent}[{json.dumps(name)}]"


def render_value(value: Any, *, limit: int = 80) -> str:
    """A short JSON rendering of a value for an error line; never raises."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 256:
        # str() of an int past 4,300 digits raises (CVE-2020-10735); none is short anyway.
        return f"a {value.bit_length() * 30103 // 100000 + 1}-digit number"
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError, RecursionError):
        text = f"a {type(value).__name__} too large or deep to show"
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return text


def unsendable_reason(envelope: Envelope) -> str | None:
    """Why the server would refuse this envelope, for the fields that come from the repository.

    Everything else in it is built by us to the schema; the feature slug comes from a folder
    name (`kitty-specs/002 space/`), the WP id from a file name, the actor and reason from what a
    person typed. The patterns are read from the schemas, which stay the one source of truth;
    the full validator is not loaded on the hook path (~35 ms).
    """
    payload = envelope["payload"]
    slug = payload["feature_slug"]
    if not common_pattern("feature_slug").match(slug):
        return (
            f"feature {slug!r} is not a valid feature slug (letters, digits, '.', '_' and '-', "
            "starting with a letter or digit): the server would refuse its events; rename the "
            f"folder kitty-specs/{slug}/"
        )
    if not common_pattern("wp_id").match(payload["wp_id"]):
        return f"work package id {payload['wp_id']!r} is not like WP01: the server would refuse it"
    if not payload["actor"].strip():
        return "the move names no actor: the server would refuse it"
    if payload["force"] and not (payload["reason"] or "").strip():
        return "a forced move with no reason: the server would refuse it; add a reason"
    return None

"""Valid or not, for a commit's few events, in plain Python from the same schemas/.

Importing jsonschema-rs costs a hook ~2-3x a bare `python -c pass` (orjson as much again). A
commit that moves a WP checks one line. So the few events of a commit are judged here.

- The schemas of schemas/ are read (json) and turned into nested Python checks: one function
  per schema node, for the keywords those schemas use.
- They are read at run time, so no generated file can drift from them.
- Only the verdict comes from here. Why an event is invalid is always worded by
  validation.explain (jsonschema-rs), the one path to every message.
- A schema keyword this module does not know makes it decline, so the compiled validator judges
  instead.

tests/check/test_verdicts.py holds these verdicts to jsonschema-rs' over the recorded upstream
lines and corrupted copies of them (Hypothesis).
"""

from __future__ import annotations

from kitty_hooks.check import patterns

TYPE_CHECKING = False  # not typing's: its import costs the quick gate more than it checks
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    Check = Callable[[Any], bool]


class Unsupported(Exception):
    """A schema uses a keyword (or a form of one) this module does not judge."""


# Keywords that say something about a schema but check nothing.
_ANNOTATIONS = frozenset(
    {"$schema", "$id", "$defs", "$comment", "title", "description", "examples", "default"}
)


class Compiler:
    """Turns the schemas (by file name) into checks; `$ref`s across files are followed once each."""

    def __init__(self, schemas: dict[str, Any]) -> None:
        self._schemas = schemas
        self._refs: dict[tuple[str, str], Check] = {}

    def check_of(self, file: str) -> Check:
        return self._ref(file, f"{file}#")

    def _ref(self, current: str, ref: str) -> Check:
        file_part, _, fragment = ref.partition("#")
        file = file_part or current
        key = (file, fragment)
        if key not in self._refs:
            # Placed before compiling, so a schema that refers to itself ends the recursion.
            slot: list[Check] = []
            self._refs[key] = lambda value: slot[0](value)
            try:
                node: Any = self._schemas[file]  # a mapping that may read the file on demand
            except KeyError:
                del self._refs[key]
                raise Unsupported(f"$ref to an unknown file {ref!r}") from None
            try:
                for part in (p for p in fragment.split("/") if p):
                    node = node[part.replace("~1", "/").replace("~0", "~")]
                slot.append(self._compile(node, file))
            except (Unsupported, KeyError, IndexError, TypeError) as exc:
                del self._refs[key]  # no half-made check left for another schema to meet
                raise Unsupported(f"{ref}: {exc}") from exc
        return self._refs[key]

    def _compile(self, schema: Any, file: str) -> Check:
        if schema is True:
            return _always
        if schema is False:
            return _never
        if not isinstance(schema, dict):
            raise Unsupported(f"a schema that is a {type(schema).__name__}")
        checks: list[Check] = []
        for keyword, argument in schema.items():
            if keyword in _ANNOTATIONS or keyword in ("then", "else"):
                continue
            builder = _BUILDERS.get(keyword)
            if builder is None:
                raise Unsupported(f"keyword {keyword!r}")
            build = getattr(self, builder)
            checks.append(build(argument, schema, file))
        if not checks:
            return _always
        if len(checks) == 1:
            return checks[0]

        def every(value: Any) -> bool:
            for check in checks:  # noqa: SIM110 - a loop, not all(generator): faster per event
                if not check(value):
                    return False
            return True

        return every

    # --- one builder per keyword: (argument, the schema it is in, its file) -> check ----------

    def _ref_keyword(self, argument: Any, schema: Any, file: str) -> Check:
        if not isinstance(argument, str):
            raise Unsupported("$ref that is no string")
        return self._ref(file, argument)

    def _type(self, argument: Any, schema: Any, file: str) -> Check:
        names = [argument] if isinstance(argument, str) else argument
        tests = [_TYPES[name] for name in names]  # KeyError: an unknown type name
        if len(tests) == 1:
            return tests[0]
        return lambda value: any(test(value) for test in tests)

    def _enum(self, argument: Any, schema: Any, file: str) -> Check:
        options = list(argument)
        return lambda value: any(_json_equal(value, option) for option in options)

    def _const(self, argument: Any, schema: Any, file: str) -> Check:
        return lambda value: _json_equal(value, argument)

    def _pattern(self, argument: Any, schema: Any, file: str) -> Check:
        translated = ecma_pattern(argument)  # Unsupported now, not at the first event
        try:
            matcher = patterns.compile_pattern(argument)
        except patterns.Unsupported:
            matcher = None  # re, through the translation
        compiled: list[Any] = []  # re's, compiled when first needed

        def search_with_re(value: str) -> bool:
            if not compiled:
                import re

                compiled.append(re.compile(translated).search)
            return compiled[0](value) is not None

        def check(value: Any) -> bool:
            if not isinstance(value, str):
                return True
            if matcher is not None:
                try:
                    return matcher(value)
                except patterns.TooHard:
                    pass
            return search_with_re(value)

        return check

    def _minLength(self, argument: Any, schema: Any, file: str) -> Check:
        return lambda value: not isinstance(value, str) or len(value) >= argument

    def _minimum(self, argument: Any, schema: Any, file: str) -> Check:
        return lambda value: not _is_number(value) or value >= argument

    def _maximum(self, argument: Any, schema: Any, file: str) -> Check:
        return lambda value: not _is_number(value) or value <= argument

    def _minItems(self, argument: Any, schema: Any, file: str) -> Check:
        return lambda value: not isinstance(value, list) or len(value) >= argument

    def _required(self, argument: Any, schema: Any, file: str) -> Check:
        names = list(argument)
        return lambda value: not isinstance(value, dict) or all(n in value for n in names)

    def _properties(self, argument: Any, schema: Any, file: str) -> Check:
        checks = [(name, self._compile(sub, file)) for name, sub in argument.items()]

        def check(value: Any) -> bool:
            if not isinstance(value, dict):
                return True
            for name, sub in checks:  # noqa: SIM110 - as above
                if name in value and not sub(value[name]):
                    return False
            return True

        return check

    def _items(self, argument: Any, schema: Any, file: str) -> Check:
        sub = self._compile(argument, file)  # 2020-12: one schema for every item
        return lambda value: not isinstance(value, list) or all(sub(item) for item in value)

    def _allOf(self, argument: Any, schema: Any, file: str) -> Check:
        subs = [self._compile(s, file) for s in argument]
        return lambda value: all(sub(value) for sub in subs)

    def _anyOf(self, argument: Any, schema: Any, file: str) -> Check:
        subs = [self._compile(s, file) for s in argument]
        return lambda value: any(sub(value) for sub in subs)

    def _oneOf(self, argument: Any, schema: Any, file: str) -> Check:
        subs = [self._compile(s, file) for s in argument]
        return lambda value: sum(1 for sub in subs if sub(value)) == 1

    def _not(self, argument: Any, schema: Any, file: str) -> Check:
        sub = self._compile(argument, file)
        return lambda value: not sub(value)

    def _if(self, argument: Any, schema: Any, file: str) -> Check:
        condition = self._compile(argument, file)
        then = self._compile(schema.get("then", True), file)
        otherwise = self._compile(schema.get("else", True), file)
        return lambda value: then(value) if condition(value) else otherwise(value)


# Each keyword the schemas use, and its builder; anything else is Unsupported.
_BUILDERS = {
    "$ref": "_ref_keyword",
    "type": "_type",
    "enum": "_enum",
    "const": "_const",
    "pattern": "_pattern",
    "minLength": "_minLength",
    "minimum": "_minimum",
    "maximum": "_maximum",
    "minItems": "_minItems",
    "required": "_required",
    "properties": "_properties",
    "items": "_items",
    "allOf": "_allOf",
    "anyOf": "_anyOf",
    "oneOf": "_oneOf",
    "not": "_not",
    "if": "_if",
}


def _always(value: Any) -> bool:
    return True


def _never(value: Any) -> bool:
    return False


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_integer(value: Any) -> bool:
    # JSON Schema: a number with no fractional part is an integer, 1.0 too.
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and value.is_integer())


_TYPES: dict[str, Callable[[Any], bool]] = {
    "object": lambda value: isinstance(value, dict),
    "array": lambda value: isinstance(value, list),
    "string": lambda value: isinstance(value, str),
    "boolean": lambda value: isinstance(value, bool),
    "null": lambda value: value is None,
    "number": _is_number,
    "integer": _is_integer,
}


def _json_equal(left: Any, right: Any) -> bool:
    """Equality as JSON sees it: true is not 1, 1 is 1.0."""
    if isinstance(left, bool) or isinstance(right, bool):
        return isinstance(left, bool) and isinstance(right, bool) and left == right
    if _is_number(left) and _is_number(right):
        return bool(left == right)
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(map(_json_equal, left, right))
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(_json_equal(left[k], right[k]) for k in left)
    return type(left) is type(right) and bool(left == right)


# What \s and \S mean in jsonschema-rs: ECMAScript's white space and line terminators (U+FEFF
# is one; U+0085 is not). Python's own \s differs: it takes \x1c-\x1f and U+0085, not U+FEFF.
_SPACE = "\\t\\n\\x0b\\x0c\\r \\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000\\ufeff"


def ecma_pattern(pattern: str) -> str:
    """A schema pattern as a Python regular expression that matches what jsonschema-rs matches:
    `$` only at the very end (Python's also before a final newline), \\s and \\S as
    ECMAScript's white space. A construct whose meaning differs in ways not handled here:
    Unsupported."""
    out = []
    index = 0
    in_class = False
    while index < len(pattern):
        char = pattern[index]
        if char == "\\":
            escaped = pattern[index + 1 : index + 2]
            if escaped in ("s", "S"):
                if in_class:
                    raise Unsupported(f"\\{escaped} in a character class: {pattern!r}")
                out.append(f"[{'^' if escaped == 'S' else ''}{_SPACE}]")
            elif escaped in ("d", "D", "w", "W", "b", "B"):
                raise Unsupported(f"\\{escaped} (ASCII or Unicode?) in {pattern!r}")
            else:
                out.append(pattern[index : index + 2])
            index += 2
            continue
        if in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
            if pattern[index + 1 : index + 2] == "]" or pattern[index + 1 : index + 3] == "^]":
                raise Unsupported(f"a class that starts with ] in {pattern!r}")
        elif char == "$":
            out.append(r"\Z")
            index += 1
            continue
        elif char == ".":
            raise Unsupported(f". (does it match a newline?) in {pattern!r}")
        out.append(char)
        index += 1
    return "".join(out)


class UnsureOfJson(ValueError):
    """A line `loads` will not judge as orjson would; orjson must read it."""


_INT_MIN, _INT_MAX = -(1 << 63), (1 << 64) - 1
_INF = float("inf")


def _int_within_64_bits(digits: str) -> int:
    value = int(digits) if len(digits) <= 21 else _INT_MAX + 1
    if not _INT_MIN <= value <= _INT_MAX:
        raise UnsureOfJson("an integer past 64 bits")  # orjson reads it as a float
    return value


def _finite_float(text: str) -> float:
    value = float(text)
    if value in (_INF, -_INF):
        raise UnsureOfJson("a number past a double")  # orjson refuses it
    return value


def _constant(name: str) -> Any:
    raise UnsureOfJson(name)  # NaN, Infinity: orjson refuses them


_DECODER: list[Any] = []  # made when first needed: json is not imported with this module


def _decoder() -> Any:
    if not _DECODER:
        import json
        import re

        _DECODER.append(
            json.JSONDecoder(
                parse_int=_int_within_64_bits, parse_float=_finite_float, parse_constant=_constant
            )
        )
        # A \u escape of a surrogate: json reads a lone one, orjson refuses it.
        _DECODER.append(re.compile(rb"\\u[dD][89a-fA-F]"))
    return _DECODER


def loads(raw: bytes) -> Any:
    """orjson.loads for the lines a commit adds, without its import: the same value for any line
    of plain JSON. A line it might read otherwise (any JSON error, a surrogate escape, NaN, a
    number past 64 bits or a double, nesting deep enough to reach Python's recursion limit)
    goes to orjson itself, imported then, so the verdict is orjson's on every line."""
    decoder, surrogate_escape = _decoder()
    try:
        if surrogate_escape.search(raw) is not None:
            raise UnsureOfJson("a surrogate escape")
        return decoder.decode(raw.decode("utf-8"))
    except (ValueError, RecursionError):  # JSONDecodeError, UnicodeDecodeError, UnsureOfJson
        import orjson

        return orjson.loads(raw)

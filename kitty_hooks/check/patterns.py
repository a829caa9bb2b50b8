"""The schemas' `pattern`s, matched as jsonschema-rs matches them, without importing re.

`import re` (with the enum, functools and collections it brings) costs a hook ~0.6x a bare
`python -c pass`. The quick gate needs the schemas' patterns for every line it judges.

The patterns in schemas/ are small: anchors, literal characters, character classes, groups,
alternation and greedy repetition. This parses those, and only those. Anything else is
Unsupported, and check.verdicts then uses re through verdicts.ecma_pattern.

It matches them by backtracking. `^` and `$` match at the very start and end of the text.
`\\s` and `\\S` are ECMAScript's white space, as in jsonschema-rs.
tests/check/test_verdicts.py holds every schema pattern to re and jsonschema-rs over generated
strings.
"""

from __future__ import annotations

TYPE_CHECKING = False  # not typing's: see check.verdicts
if TYPE_CHECKING:
    from collections.abc import Callable


class Unsupported(Exception):
    """A construct this matcher does not take (verdicts.Unsupported is a subclass's cousin)."""


class TooHard(Exception):
    """A text that would take too many backtracking steps: re decides instead."""


# ECMAScript's white space and line terminators, what \s means to jsonschema-rs.
_SPACE = frozenset(
    "\t\n\x0b\x0c\r \xa0\u1680\u2028\u2029\u202f\u205f\u3000\ufeff"
    + "".join(chr(c) for c in range(0x2000, 0x200B))
)
_MOST_STEPS = 100_000


class _Class:
    """A set of characters: single ones and ranges, maybe negated."""

    __slots__ = ("chars", "negated", "ranges")

    def __init__(self, chars: frozenset[str], ranges: tuple[tuple[str, str], ...], negated: bool):
        self.chars = chars
        self.ranges = ranges
        self.negated = negated

    def __contains__(self, char: str) -> bool:
        found = char in self.chars or any(low <= char <= high for low, high in self.ranges)
        return found is not self.negated


class _Parser:
    def __init__(self, pattern: str) -> None:
        self.text = pattern
        self.pos = 0

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def take(self) -> str:
        char = self.peek()
        if not char:
            raise Unsupported("the pattern ends early")
        self.pos += 1
        return char

    def alternation(self) -> tuple:  # type: ignore[type-arg]
        branches = [self.sequence()]
        while self.peek() == "|":
            self.pos += 1
            branches.append(self.sequence())
        return branches[0] if len(branches) == 1 else ("alt", tuple(branches))

    def sequence(self) -> tuple:  # type: ignore[type-arg]
        items = []
        while self.peek() not in ("", "|", ")"):
            items.append(self.repeat())
        return ("seq", tuple(items))

    def repeat(self) -> tuple:  # type: ignore[type-arg]
        atom = self.atom()
        char = self.peek()
        if char in ("*", "+", "?"):
            self.pos += 1
            low, high = {"*": (0, None), "+": (1, None), "?": (0, 1)}[char]
        elif char == "{":
            low, high = self.bounds()
        else:
            return atom
        if self.peek() in ("*", "+", "?", "{"):
            raise Unsupported("a lazy or doubled quantifier")
        if atom[0] in ("bol", "eol"):
            raise Unsupported("a repeated anchor")
        return ("rep", atom, low, high)

    def bounds(self) -> tuple[int, int | None]:
        end = self.text.find("}", self.pos)
        inside = self.text[self.pos + 1 : end] if end > 0 else ""
        low, comma, high = inside.partition(",")
        if not low.isdigit() or (high and not high.isdigit()):
            raise Unsupported(f"a brace that is no repetition: {self.text!r}")
        self.pos = end + 1
        if not comma:
            return int(low), int(low)
        return int(low), (int(high) if high else None)

    def atom(self) -> tuple:  # type: ignore[type-arg]
        char = self.take()
        if char == "(":
            if self.peek() == "?":
                raise Unsupported("(? groups")
            inner = self.alternation()
            if self.take() != ")":
                raise Unsupported("an unclosed group")
            return ("group", inner)
        if char == "[":
            return ("class", self.char_class())
        if char == "^":
            return ("bol",)
        if char == "$":
            return ("eol",)
        if char == "\\":
            return self.escape()
        if char in ".*+?{}])|":
            raise Unsupported(f"{char!r} where a character was expected")
        return ("class", _Class(frozenset(char), (), False))

    def escape(self) -> tuple:  # type: ignore[type-arg]
        char = self.take()
        if char in ("s", "S"):
            return ("class", _Class(_SPACE, (), char == "S"))
        if char.isalnum():
            raise Unsupported(f"\\{char}")
        return ("class", _Class(frozenset(char), (), False))

    def char_class(self) -> _Class:
        negated = self.peek() == "^"
        if negated:
            self.pos += 1
        if self.peek() == "]":
            raise Unsupported("a class that starts with ]")
        chars: set[str] = set()
        ranges = []
        while True:
            char = self.take()
            if char == "]":
                break
            if char == "[":
                raise Unsupported("[ inside a class")
            if char == "\\":
                char = self.take()
                if char.isalnum():
                    raise Unsupported(f"\\{char} inside a class")
            if self.peek() == "-" and self.text[self.pos + 1 : self.pos + 2] not in ("]", ""):
                self.pos += 1
                high = self.take()
                if high in ("\\", "["):
                    raise Unsupported("an escape ending a range")
                if high < char:
                    raise Unsupported("a range out of order")
                ranges.append((char, high))
            else:
                chars.add(char)
        return _Class(frozenset(chars), tuple(ranges), negated)


def compile_pattern(pattern: str) -> Callable[[str], bool]:
    """search(text) -> whether the pattern matches somewhere in text, as jsonschema-rs says."""
    parser = _Parser(pattern)
    tree = parser.alternation()
    if parser.pos != len(pattern):
        raise Unsupported(f"an unmatched ) in {pattern!r}")
    anchored = tree[0] == "seq" and bool(tree[1]) and tree[1][0][0] == "bol"

    def search(text: str) -> bool:
        steps = [0]
        starts = range(1) if anchored else range(len(text) + 1)
        return any(_match(tree, text, start, _accept, steps) for start in starts)

    return search


def _accept(end: int) -> bool:
    return True


def _match(node: tuple, text: str, pos: int, then: Callable[[int], bool], steps: list[int]) -> bool:  # type: ignore[type-arg]
    steps[0] += 1
    if steps[0] > _MOST_STEPS:
        raise TooHard
    kind = node[0]
    if kind == "class":
        return pos < len(text) and text[pos] in node[1] and then(pos + 1)
    if kind == "seq":
        return _sequence(node[1], 0, text, pos, then, steps)
    if kind == "alt":
        return any(_match(branch, text, pos, then, steps) for branch in node[1])
    if kind == "group":
        return _match(node[1], text, pos, then, steps)
    if kind == "bol":
        return pos == 0 and then(pos)
    if kind == "eol":
        return pos == len(text) and then(pos)
    return _repeat(node, text, pos, then, steps)


def _sequence(
    items: tuple, index: int, text: str, pos: int, then: Callable[[int], bool], steps: list[int]
) -> bool:  # type: ignore[type-arg]
    if index == len(items):
        return then(pos)
    return _match(
        items[index],
        text,
        pos,
        lambda end: _sequence(items, index + 1, text, end, then, steps),
        steps,
    )


def _repeat(
    node: tuple, text: str, pos: int, then: Callable[[int], bool], steps: list[int]
) -> bool:  # type: ignore[type-arg]
    _, inner, low, high = node
    if inner[0] == "class":
        # One character at a time: take as many as it may, then give back (greedy), no recursion.
        members = inner[1]
        end = pos
        limit = len(text) if high is None else min(len(text), pos + high)
        while end < limit and text[end] in members:
            end += 1
        for stop in range(end, pos + low - 1, -1):
            steps[0] += 1
            if steps[0] > _MOST_STEPS:
                raise TooHard
            if then(stop):
                return True
        return False

    def again(count: int, at: int) -> bool:
        if high is None or count < high:

            def after(end: int) -> bool:
                return end != at and again(count + 1, end)  # an empty round ends the loop

            if _match(inner, text, at, after, steps):
                return True
        return count >= low and then(at)

    return again(0, pos)

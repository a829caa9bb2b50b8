"""Reading a request body that may be hostile: capped before and while inflating, clean JSON only."""

from __future__ import annotations

import json
import math
import re
import zlib
from dataclasses import dataclass
from typing import Any, NoReturn

from werkzeug.wrappers import Request

from kitty_hooks.check import validation
from kitty_hooks.peer.answers import Refused

MAX_COMPRESSED_BYTES = 8 << 20
# A gzip bomb inflates ~1000:1, so the decompressed size is capped on its own, while inflating.
MAX_DECOMPRESSED_BYTES = 64 << 20


@dataclass(frozen=True)
class BodyLimits:
    compressed: int = MAX_COMPRESSED_BYTES
    decompressed: int = MAX_DECOMPRESSED_BYTES


def read_capped(request: Request, limit: int, *, what: str = "body") -> bytes:
    length = request.content_length
    if length is not None and length > limit:
        raise Refused(400, f"{what} too large", f"{length} bytes; the limit is {limit}")
    data = request.stream.read(limit + 1)
    if len(data) > limit:
        raise Refused(400, f"{what} too large", f"over {limit} bytes")
    return data


def gunzip_capped(data: bytes, limit: int) -> bytes:
    """Inflate gzip (one member or several) without ever holding more than limit + 1 bytes."""
    out = bytearray()
    remaining = data
    try:
        while True:
            inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)  # gzip header required
            pending = remaining
            while pending and not inflater.eof:
                out += inflater.decompress(pending, limit + 1 - len(out))
                if len(out) > limit:
                    raise Refused(400, "batch too large", f"over {limit} bytes once decompressed")
                pending = inflater.unconsumed_tail
            if not inflater.eof:
                raise Refused(400, "the body is not valid gzip", "truncated gzip stream")
            remaining = inflater.unused_data
            if not remaining:
                return bytes(out)
    except zlib.error as exc:
        raise Refused(400, "the body is not valid gzip", str(exc)) from None


def _reject_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e999 parses as inf, which json.dumps writes as Infinity
        raise ValueError(f"the number {text[:40]} is out of range")
    return value


# A \uD800-\uDFFF escape: json.loads turns one without its pair into a lone surrogate, a str
# that cannot be encoded (SQLite, the response, hmac all raise). Looked for in the raw bytes
# first, so a body without one costs a regex scan and nothing more.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def parse_json(data: bytes) -> Any:
    """The JSON document in a request body; Refused(400) for anything that is not clean JSON.

    Clean: UTF-8, no NaN or Infinity (spelled out or overflowing), no lone surrogate, nested
    less deeply than the interpreter's stack.
    """
    try:
        document = json.loads(data, parse_constant=_reject_constant, parse_float=_finite_float)
    except RecursionError:
        raise Refused(400, "the body is not JSON", "nested too deeply") from None
    except ValueError as exc:  # includes JSONDecodeError and UnicodeDecodeError
        raise Refused(400, "the body is not JSON", str(exc)) from None
    if _SURROGATE_ESCAPE.search(data):
        try:
            json.dumps(document, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise Refused(
                400,
                "the body is not JSON",
                "a \\uD800-\\uDFFF escape without its pair is not a character (RFC 8259, section 8.2)",
            ) from None
    return document


def small_json_object(request: Request) -> dict[str, Any]:
    body = parse_json(read_capped(request, 64 << 10))
    if not isinstance(body, dict):
        raise Refused(400, "the body must be a JSON object", validation.render_value(body))
    return body


# The largest integer SQLite stores; a larger one raised OverflowError when bound (a 500).
_MAX_NATURAL = 2**63 - 1


def natural_arg(request: Request, name: str) -> int | None:
    """A query parameter that must be a whole number 0..2**63-1; Refused(400) otherwise."""
    value = request.args.get(name)
    if value is None:
        return None
    # isdigit() alone also takes "²" and "٣", which int() refuses or reads as another number.
    number = int(value) if value.isascii() and value.isdigit() and len(value) <= 19 else None
    if number is None or number > _MAX_NATURAL:
        raise Refused(400, f"{name} must be a whole number from 0 to {_MAX_NATURAL}", value[:40])
    return number

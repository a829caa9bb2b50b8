"""Batch bodies: events packed into gzip `{"events": [...]}` bodies within the contract's limits."""

from __future__ import annotations

import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from kitty_hooks.contract import MAX_BATCH_BYTES, MAX_BATCH_EVENTS


@dataclass(frozen=True)
class EncodedBatch:
    event_ids: tuple[str, ...]
    body: bytes


def encode_batches(
    events: Sequence[tuple[str, str]],
    *,
    max_events: int = MAX_BATCH_EVENTS,
    max_bytes: int = MAX_BATCH_BYTES,
) -> Iterator[EncodedBatch]:
    """gzip `{"events": [...]}` bodies from (event_id, envelope JSON text) pairs, capped by
    event count and by compressed size.

    The texts are joined as they are (the queue stores compact JSON): a flush of many events
    spends no time decoding and re-encoding them. A body over max_bytes is split in halves
    until it fits; a single event over the cap is still sent alone (the server will say what
    it thinks of it).
    """
    return encode_texts(
        [event_id for event_id, _ in events],
        [data.encode("utf-8") for _, data in events],
        max_events=max_events,
        max_bytes=max_bytes,
    )


def encode_texts(
    event_ids: Sequence[str],
    texts: Sequence[bytes],
    *,
    max_events: int = MAX_BATCH_EVENTS,
    max_bytes: int = MAX_BATCH_BYTES,
) -> Iterator[EncodedBatch]:
    """encode_batches() from parallel sequences, the envelopes already UTF-8 JSON bytes (as
    the flusher reads them from the queue)."""
    for start in range(0, len(event_ids), max_events):
        end = start + max_events
        yield from _fit(tuple(event_ids[start:end]), texts[start:end], max_bytes)


def _fit(
    event_ids: tuple[str, ...], texts: Sequence[bytes], max_bytes: int
) -> Iterator[EncodedBatch]:
    # Level 1: these bodies compress ~8:1 at any level; higher levels cost time, not bytes.
    # wbits 31: a gzip stream from zlib itself (gzip.compress adds a separate CRC pass). A
    # compressobj, as zlib.compress takes wbits only from Python 3.11.
    packer = zlib.compressobj(1, zlib.DEFLATED, 31)
    body = packer.compress(b'{"events":[' + b",".join(texts) + b"]}") + packer.flush()
    if len(body) <= max_bytes or len(event_ids) == 1:
        yield EncodedBatch(event_ids, body)
        return
    middle = len(event_ids) // 2
    yield from _fit(event_ids[:middle], texts[:middle], max_bytes)
    yield from _fit(event_ids[middle:], texts[middle:], max_bytes)

"""The three kinds of event file: how a path is told as one, how much of one is read, and how
its bytes become text."""

from __future__ import annotations

from enum import Enum
from pathlib import PurePosixPath

from kitty_hooks.check.results import DiagnoseReport, Problem
from kitty_hooks.model.layout import LOG_FILE_NAME, is_wp_file

BOM = b"\xef\xbb\xbf"
BOM_MESSAGE = "starts with a UTF-8 byte order mark (BOM): save it as UTF-8 without one"


class FileKind(Enum):
    LOG = "status log"
    ENVELOPES = "event JSON"
    WORK_PACKAGE = "work package"


# The most diagnose reads of one file: a real 3.x log of thousands of lines is a few MB.
MAX_FILE_BYTES = {
    FileKind.LOG: 256 << 20,
    FileKind.ENVELOPES: 256 << 20,
    FileKind.WORK_PACKAGE: 1 << 20,
}


def classify(path: PurePosixPath, *, explicit: bool) -> FileKind | None:
    """What kind of event file a path is; None for a file diagnose does not check.

    Named explicitly, any .jsonl is a log and any .json holds envelopes. Found by discovery or
    in the index, only status.events.jsonl, *.events.json / *.event.json and WP files count, so
    that an unrelated meta.json is left alone.
    """
    name = path.name
    if name == LOG_FILE_NAME or (explicit and name.endswith(".jsonl")):
        return FileKind.LOG
    if name.endswith((".events.json", ".event.json")) or (explicit and name.endswith(".json")):
        return FileKind.ENVELOPES
    if name.endswith(".md") and (explicit or is_wp_file(path)):
        return FileKind.WORK_PACKAGE
    return None


def decode_whole(label: str, data: bytes, report: DiagnoseReport) -> str | None:
    """A whole file's text (a BOM reported and dropped); None, reported, when it is not UTF-8."""
    if data.startswith(BOM):
        report.add(Problem(label, 1, (BOM_MESSAGE,)))
        data = data[len(BOM) :]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        report.add(
            Problem(
                label, line, (f"not valid UTF-8 (byte 0x{data[exc.start]:02x} at column {column})",)
            )
        )
        return None

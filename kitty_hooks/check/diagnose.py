"""Check event files against the schemas: `kitty-hooks diagnose` and the pre-commit gate.

Three kinds of file:

- a feature's status.events.jsonl (one log line per line);
- JSON files with one event envelope or a list of them;
- work-package markdown files (their frontmatter must parse and name a known lane).

Every problem becomes one line naming file, line, event, field, value and what was expected.
Nothing raises out of here for bad content. This module finds the files and sends each to the
check of its kind (statuslog, envelopes, workpackages).
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

from kitty_hooks.check import validation
from kitty_hooks.check.envelopes import check_envelope_file
from kitty_hooks.check.eventfiles import MAX_FILE_BYTES, FileKind, classify
from kitty_hooks.check.results import DiagnoseReport, Problem
from kitty_hooks.check.statuslog import check_log
from kitty_hooks.check.workpackages import check_wp_file
from kitty_hooks.files import UnreadableFile, read_bounded
from kitty_hooks.model.layout import (
    LOG_FILE_NAME,
    SPECS_DIR,
    feature_of,
    is_wp_file,
    legacy_lane_of,
)
from kitty_hooks.wording import plural


def discover(root: Path) -> list[Path]:
    """Every status log and WP file under root's kitty-specs/ (or under root itself)."""
    specs = root / SPECS_DIR if (root / SPECS_DIR).is_dir() else root
    found = [p for p in specs.rglob(LOG_FILE_NAME) if p.is_file()]
    found += [
        p
        for p in specs.rglob("WP*.md")
        if p.is_file() and is_wp_file(PurePosixPath(p.relative_to(root).as_posix()))
    ]
    found += [
        p
        for p in specs.rglob("*.json")
        if p.is_file() and classify(PurePosixPath(p.name), explicit=False)
    ]
    return sorted(set(found))


def diagnose_paths(
    paths: list[Path], *, display_root: Path | None = None, keep_valid: bool = True
) -> DiagnoseReport:
    """Check files as they are on disk (directories are searched for event files)."""
    report = DiagnoseReport(keep_valid=keep_valid)
    for path in paths:
        if path.is_dir():
            inside = discover(path)
            if not inside:
                report.unreadable.append(str(path))
                report.add(
                    Problem(
                        str(path),
                        None,
                        ("is a directory with no event logs, event JSON or WP files in it",),
                    )
                )
            for found in inside:
                _check_file_on_disk(found, report, explicit=False, display_root=display_root)
            continue
        _check_file_on_disk(path, report, explicit=True, display_root=display_root)
    return report


def _display(path: Path, display_root: Path | None) -> str:
    if display_root is not None:
        try:
            return path.resolve().relative_to(display_root.resolve()).as_posix()
        except ValueError:
            pass
    return str(path)


def _check_file_on_disk(
    path: Path, report: DiagnoseReport, *, explicit: bool, display_root: Path | None
) -> None:
    label = _display(path, display_root)
    kind = classify(PurePosixPath(path.as_posix()), explicit=explicit)
    if kind is None and os.path.lexists(path):
        message = (
            "not a file diagnose checks (expected a .jsonl status log, a .json event file "
            "or a WP .md file)"
        )
    else:
        try:
            data = read_bounded(path, limit=MAX_FILE_BYTES[kind] if kind else 0)
        except UnreadableFile as exc:
            message = str(exc)
        else:
            assert kind is not None  # an existing path of no kind was refused above
            check_content(
                kind,
                label,
                data,
                report,
                legacy_lane=legacy_lane_of(PurePosixPath(path.as_posix())),
            )
            if kind is FileKind.LOG:
                check_slugs_against_folder(label, data, report)
            return
    report.unreadable.append(label)
    report.add(Problem(label, None, (message,)))


def check_content(
    kind: FileKind,
    label: str,
    data: bytes,
    report: DiagnoseReport,
    *,
    legacy_lane: str | None = None,
    first_line: int = 1,
) -> None:
    """Check one file's bytes (for a log, possibly only the part appended at first_line)."""
    report.files.append(label)
    if kind is not FileKind.ENVELOPES:
        _check_feature_folder(label, report)
    if kind is FileKind.LOG:
        check_log(label, data, report, first_line=first_line)
    elif kind is FileKind.ENVELOPES:
        check_envelope_file(label, data, report)
    else:
        check_wp_file(label, data, report, legacy_lane=legacy_lane)


def check_slugs_against_folder(label: str, data: bytes, report: DiagnoseReport) -> None:
    """A warning, never a block, where a log's lines name another feature than its folder:
    spec-kitty's reducer trusts the folder, and so does capture (3.x may write the mission's
    short id, `01KTRC04`, in `tooling-stability-guard-coherence-01KTRC04`)."""
    import re  # here, not on the gate's path, which checks no whole log

    parts = PurePosixPath(label).parts
    if len(parts) < 3 or parts[-3] != SPECS_DIR:
        return  # not kitty-specs/<feature>/<log>: no folder names the feature
    folder = parts[-2]
    own = folder.encode("utf-8", "surrogateescape")
    # 2.x's feature_slug, 3.x's mission_slug, as spec-kitty writes them (plainly).
    field = re.compile(rb'"(?:mission|feature)_slug"\s*:\s*"([^"\\]*)"')
    others = set(field.findall(data)) - {own}
    if not others:
        return
    first = next(m for m in field.finditer(data) if m.group(1) != own)
    line = data.count(b"\n", 0, first.start()) + 1
    shown = first.group(1).decode("utf-8", "replace")
    more = f" (and {plural(len(others) - 1, 'other name')})" if len(others) > 1 else ""
    report.add(
        Problem(
            label,
            line,
            (
                f"lines name the feature {shown!r}{more}, but the folder is {folder!r}: "
                "spec-kitty and kitty-hooks take the folder (rename one if they should agree)",
            ),
            severity="warning",
        )
    )


def _check_feature_folder(label: str, report: DiagnoseReport) -> None:
    """Capture names a feature by its folder: one the server refuses makes every event dead."""
    feature = feature_of(PurePosixPath(label))
    if feature is None or validation.common_pattern("feature_slug").match(feature):
        return
    report.add(
        Problem(
            label,
            None,
            (
                f"feature folder {feature!r} is not a valid feature slug (letters, digits, '.', "
                "'_' and '-', starting with a letter or digit): the server refuses its events; "
                "rename the folder",
            ),
        )
    )

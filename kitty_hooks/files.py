"""The door to files that must be read safely or written whole.

Reading a file that a user or another tool wrote: regular files only, never unbounded.
`diagnose x.jsonl` on a FIFO used to block forever. On a symlink to /dev/zero it grew until it
was killed. So whatever path we are handed, we open only a regular file, without blocking, and
read at most a cap's worth of it. Everything that goes wrong is an UnreadableFile with words for a
person.

Writing a file that another process reads at any moment (the credentials, the flush state):
write_atomically, so a reader sees the old file or the new one, never half of either.
"""

from __future__ import annotations

import contextlib
import os
import stat
import time
from pathlib import Path


class UnreadableFile(OSError):
    """A path that could not be read as a file, in words for a person."""


def read_bounded(path: Path, *, limit: int) -> bytes:
    """The bytes of a regular file of at most `limit` bytes; UnreadableFile for anything else."""
    try:
        # O_NONBLOCK: opening a FIFO with no writer would otherwise wait forever.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise UnreadableFile("no such file or directory") from None
    except IsADirectoryError:
        raise UnreadableFile("is a directory") from None
    except PermissionError:
        raise UnreadableFile("permission denied: cannot read it") from None
    except OSError as exc:
        raise UnreadableFile(f"cannot read it: {exc.strerror or exc}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise UnreadableFile(f"is {_what(info.st_mode)}, not a regular file")
        if info.st_size > limit:
            raise UnreadableFile(f"is {info.st_size:,} bytes, over the {limit:,}-byte limit")
        chunks: list[bytes] = []
        size = 0
        while True:  # the file may grow while we read: the cap holds all the same
            chunk = os.read(fd, min(1 << 20, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:
                raise UnreadableFile(f"is over the {limit:,}-byte limit")
        return b"".join(chunks)
    except UnreadableFile:
        raise
    except OSError as exc:
        raise UnreadableFile(f"cannot read it: {exc.strerror or exc}") from None
    finally:
        os.close(fd)


def _what(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a special file"


def write_atomically(
    path: Path, data: bytes, *, mode: int = 0o600, follow_symlinks: bool = True
) -> None:
    """Replace the file at path with data, whole or not at all, even across a crash.

    A temporary file in the same directory (so the rename is atomic), fsynced, renamed over the
    target, then the directory fsynced. With follow_symlinks a symlink is written through
    (dotfile managers link ~/.spec-kitty/credentials); without, the link itself is replaced (a
    hook that is a symlink into another tool's folder). OSError when it cannot be done; the old
    file is then untouched and no temporary file is left behind.
    """
    target = path.resolve() if follow_symlinks else path
    # Not tempfile.mkstemp: tempfile brings shutil, and the hook path (a spooled commit) writes
    # here. O_EXCL with the process id and a clock makes the name ours alone; created 0600 so a
    # secret is never readable by others, not even for a moment.
    temporary = target.parent / f".{target.name}.{os.getpid()}.{time.monotonic_ns()}.tmp"
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            if mode != 0o600:
                os.chmod(temporary, mode)
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    _fsync_directory(target.parent)


def _fsync_directory(directory: Path) -> None:
    """Make the rename itself durable: without it a crash can bring the old file back."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # Windows opens no directories; its rename is atomic all the same
        return
    try:
        os.fsync(fd)
    except OSError:  # some file systems refuse fsync on a directory
        pass
    finally:
        os.close(fd)

"""File contents at commits: `git cat-file --batch`, one process for any number of blobs."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING

from kitty_hooks.errors import FatalError
from kitty_hooks.gitrepo.command import git_failed, run_git, start_git, widen_pipe

if TYPE_CHECKING:
    import selectors


def read_blobs(root: Path, specs: list[str]) -> list[bytes | None]:
    """The contents of several objects (e.g. "HEAD:path", ":path" for the index) in one git call.

    None for an object that does not exist (a file new in this commit, no HEAD yet).
    """
    if not specs:
        return []
    for spec in specs:
        if "\n" in spec:
            raise FatalError(f"cannot read a path with a newline in its name: {spec!r}")
    out = run_git(
        root,
        "cat-file",
        "--batch",
        stdin="".join(s + "\n" for s in specs).encode("utf-8", "surrogateescape"),
    )
    blobs: list[bytes | None] = []
    pos = 0
    for _ in specs:
        header_end = out.index(b"\n", pos)
        header = out[pos:header_end].split(b" ")
        pos = header_end + 1
        if header[-1] == b"missing" or len(header) != 3:
            blobs.append(None)
            continue
        size = int(header[2])
        blobs.append(out[pos : pos + size] if header[1] == b"blob" else None)
        pos += size + 1
    return blobs


# What the pipe to git takes without a reader, anywhere: a request this small is written at
# once. (Linux gives 64 KiB, but only 4 KiB to a user over pipe-user-pages-soft, as Windows
# does; a larger request written before reading could leave git and us waiting on each other.)
_PIPE_BYTES = 4 << 10


def stream_blobs(root: Path, specs: list[str]) -> Iterator[bytes | None]:
    """read_blobs for a long scan: each content as git writes it, in order.

    The caller works on one blob while git finds the next (on another core). A long read
    takes what git has written off the pipe at each blob asked for, up to 64 MiB ahead, so git
    writes on while the caller is busy. Beyond that, only what the caller keeps is held,
    rather than one answer of every version of every log (hundreds of MB). Close the iterator
    to stop early: git is then killed.
    """
    for spec in specs:
        if "\n" in spec:
            raise FatalError(f"cannot read a path with a newline in its name: {spec!r}")
    request = "".join(s + "\n" for s in specs).encode()
    process = start_git(root, "cat-file", "--batch", "--buffer")
    assert process.stdin is not None and process.stdout is not None
    writer = None
    out: IO[bytes] | _ReadAhead = process.stdout
    if len(request) <= _PIPE_BYTES:
        _feed(process.stdin, request)  # fits in the pipe: no thread on the hook path
    else:
        import threading

        # Linux's 64 KiB pipe made git and us take turns (a context switch each 64 KiB)
        # through every version of a 1 MB log: 10% of a scan.
        widen_pipe(process.stdout.fileno())
        # Written while we read: git stops reading requests while its answers wait for us.
        writer = threading.Thread(target=_feed, args=(process.stdin, request), daemon=True)
        writer.start()
        out = _ReadAhead(process.stdout.fileno(), _READ_AHEAD_BYTES)
    err = process.stderr
    assert err is not None
    take_written = out.take_written if isinstance(out, _ReadAhead) else None
    done = truncated = False
    try:
        for _ in specs:
            if take_written is not None:
                take_written()  # at each blob asked for: git writes on while the caller works
            header = out.readline().split(b" ")
            if header == [b""]:
                truncated = True  # git stopped answering: its error is below
                break
            if len(header) != 3 or not header[2].rstrip().isdigit():
                yield None  # "<spec> missing" (a file new in this commit), ambiguous...
                continue
            data = out.read(int(header[2]))
            out.read(1)  # the newline after each content
            yield data if header[1] == b"blob" else None
        done = not truncated
    finally:
        if not done:
            process.kill()
        if writer is not None:
            writer.join()
        if take_written is not None:
            out.close()
        stderr = err.read()
        for pipe in (process.stdin, process.stdout, err):
            with contextlib.suppress(BrokenPipeError):
                pipe.close()
        process.wait()
    if truncated or process.returncode != 0:
        raise git_failed(root, ("cat-file",), stderr)


# How far a long read runs ahead of its reader: git then writes on while the reader is busy,
# and the reader finds the next blob there when git is the slower (every version of a 1 MB
# log, one after the other). Held, at most, beside what the caller keeps.
_READ_AHEAD_BYTES = 64 << 20
_READ_BYTES = 1 << 18


class _ReadAhead:
    """What git writes, taken off the pipe whenever the reader asks for more (readline, read),
    all that git has written by then, up to limit bytes ahead: git never waits on a full pipe
    while the reader is busy with what came before. No thread: one cheap read when there is
    nothing new."""

    def __init__(self, fd: int, limit: int) -> None:
        from collections import deque

        os.set_blocking(fd, False)
        self._fd = fd
        self._limit = limit
        self._chunks: deque[bytes] = deque()
        self._ahead = 0  # bytes in _chunks
        self._ended = False
        self._chunk = b""  # the chunk being read, from _at on
        self._at = 0
        self._written: selectors.BaseSelector | None = None  # to wait on, made when first needed

    def take_written(self) -> None:
        """Take off the pipe what git has written, without waiting for more."""
        while not self._ended and self._ahead < self._limit:
            try:
                chunk = os.read(self._fd, _READ_BYTES)
            except BlockingIOError:
                return
            except OSError:
                chunk = b""  # the pipe broke: an end, which the reader reports
            if not chunk:
                self._ended = True
                return
            self._chunks.append(chunk)
            self._ahead += len(chunk)

    def _next_chunk(self) -> bool:
        """Move on to the next chunk git wrote, waiting for it; False at the end."""
        while not self._chunks:
            if self._ended:
                return False
            if self._written is None:
                import selectors

                self._written = selectors.DefaultSelector()
                self._written.register(self._fd, selectors.EVENT_READ)
            self._written.select()
            self.take_written()
        self._chunk = self._chunks.popleft()
        self._at = 0
        self._ahead -= len(self._chunk)
        return True

    def close(self) -> None:
        """Let go of what waiting made (the pipe is the process's to close)."""
        if self._written is not None:
            self._written.close()
            self._written = None

    def readline(self) -> bytes:
        parts: list[bytes] = []
        while True:
            end = self._chunk.find(b"\n", self._at)
            if end >= 0:
                parts.append(self._chunk[self._at : end + 1])
                self._at = end + 1
                return b"".join(parts)
            parts.append(self._chunk[self._at :])
            if not self._next_chunk():
                return b"".join(parts)

    def read(self, size: int) -> bytes:
        if self._at + size <= len(self._chunk):
            start = self._at
            self._at += size
            return self._chunk[start : self._at]
        parts = [self._chunk[self._at :]]
        wanted = size - len(parts[0])
        while wanted > 0 and self._next_chunk():
            taken = self._chunk[:wanted]
            parts.append(taken)
            self._at = len(taken)
            wanted -= len(taken)
        return b"".join(parts)


def _feed(pipe: IO[bytes], request: bytes) -> None:
    try:
        pipe.write(request)
        pipe.close()
    except BrokenPipeError:  # git died: its exit code and stderr tell why
        pass


def paths_under(root: Path, rev: str, folder: str) -> list[str]:
    """The file paths under a folder at a revision (none when the revision or folder is not
    there)."""
    try:
        out = run_git(root, "ls-tree", "-r", "-z", "--name-only", rev, "--", folder)
    except FatalError:
        return []
    return [p for p in out.decode("utf-8", "surrogateescape").split("\0") if p]

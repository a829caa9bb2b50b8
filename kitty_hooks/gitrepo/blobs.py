"""File contents at commits: `git cat-file --batch`, one process for any number of blobs."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from kitty_hooks.errors import FatalError
from kitty_hooks.gitrepo.command import git_failed, run_git, start_git, widen_pipe


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

    The caller works on one blob while git finds the next (on another core), and holds only
    what it keeps rather than one answer of every version of every log (hundreds of MB). Close
    the iterator to stop early: git is then killed.
    """
    for spec in specs:
        if "\n" in spec:
            raise FatalError(f"cannot read a path with a newline in its name: {spec!r}")
    request = "".join(s + "\n" for s in specs).encode()
    process = start_git(root, "cat-file", "--batch", "--buffer")
    assert process.stdin is not None and process.stdout is not None
    writer = None
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
    out, err = process.stdout, process.stderr
    assert err is not None
    done = truncated = False
    try:
        for _ in specs:
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
        stderr = err.read()
        for pipe in (process.stdin, out, err):
            with contextlib.suppress(BrokenPipeError):
                pipe.close()
        process.wait()
    if truncated or process.returncode != 0:
        raise git_failed(root, ("cat-file",), stderr)


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

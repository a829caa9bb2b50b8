"""git for the gate's quick look: one call, its output or None, with nothing but os.

subprocess (with signal, selectors, threading) costs a hook ~0.4x a bare `python -c pass` to
import. The quick gate (check/quick.py) runs two git calls and gives up on any surprise. Then
the careful path (gitrepo.command) says what went wrong.
"""

from __future__ import annotations

import os

# What a pipe takes without a reader anywhere (see gitrepo.blobs): a larger request is left to
# the careful path rather than risk git and us waiting on each other.
_PIPE_BYTES = 4 << 10


def git_output(args: list[str], stdin: bytes = b"") -> bytes | None:
    """What `git <args>` writes, when it exits 0; None when it cannot start, fails, or the
    request is too large to write before reading."""
    if len(stdin) > _PIPE_BYTES:
        return None
    out_read, out_write = os.pipe()
    in_read, in_write = os.pipe()
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        pid = os.posix_spawnp(
            "git",
            ["git", *args],
            os.environ,  # GIT_INDEX_FILE and the rest that git hands its hooks: see command.py
            file_actions=[
                (os.POSIX_SPAWN_DUP2, in_read, 0),
                (os.POSIX_SPAWN_DUP2, out_write, 1),
                (os.POSIX_SPAWN_DUP2, null, 2),
            ],
        )
    except OSError:
        for fd in (out_read, out_write, in_read, in_write, null):
            os.close(fd)
        return None
    os.close(out_write)
    os.close(in_read)
    os.close(null)
    try:
        if stdin:
            os.write(in_write, stdin)
    except OSError:
        pass  # git exited early: its exit code says so
    finally:
        os.close(in_write)
    chunks = []
    try:
        while chunk := os.read(out_read, 1 << 16):
            chunks.append(chunk)
    finally:
        os.close(out_read)
    _, status = os.waitpid(pid, 0)
    return b"".join(chunks) if os.waitstatus_to_exitcode(status) == 0 else None

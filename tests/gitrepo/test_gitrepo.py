"""git_blobs.stream_blobs: the one cat-file a scan reads every blob through."""

from __future__ import annotations

from pathlib import Path

import pytest

from kitty_hooks.errors import FatalError
from kitty_hooks.gitrepo import blobs as git_blobs
from tests.gitutil import Repo


def test_stream_blobs_answers_in_order_with_none_for_what_is_not_a_blob(repo: Repo) -> None:
    repo.write("a.txt", "alpha\n")
    repo.write("dir/b.txt", b"\x00binary\n")
    repo.commit_all()
    specs = ["HEAD:a.txt", "HEAD:missing.txt", "HEAD:dir", "HEAD:dir/b.txt", "HEAD:a.txt"]
    assert list(git_blobs.stream_blobs(repo.path, specs)) == [
        b"alpha\n",
        None,
        None,
        b"\x00binary\n",
        b"alpha\n",
    ]


def test_stream_blobs_reads_a_long_request_of_large_blobs(repo: Repo) -> None:
    # Larger than the pipes both ways: the request is written while the answers are read.
    big = "".join(f"line {n:07d}\n" for n in range(200_000)).encode()
    repo.write("big.log", big)
    repo.commit_all()
    specs = ["HEAD:big.log"] * 5 + [f"HEAD:nothing-{n:05d}-{'x' * 40}" for n in range(2000)]
    blobs = list(git_blobs.stream_blobs(repo.path, specs))
    assert blobs[:5] == [big] * 5 and blobs[5:] == [None] * 2000


def test_stream_blobs_closed_early_stops_git(repo: Repo) -> None:
    repo.write("a.txt", "alpha\n" * 100_000)
    repo.commit_all()
    stream = git_blobs.stream_blobs(repo.path, ["HEAD:a.txt"] * 3000)
    assert next(stream) == b"alpha\n" * 100_000
    stream.close()  # git is killed and reaped; nothing raised


def test_stream_blobs_outside_a_repository_says_so(tmp_path: Path) -> None:
    with pytest.raises(FatalError, match="git cat-file failed"):
        list(git_blobs.stream_blobs(tmp_path, ["HEAD:a.txt"]))

"""The two long git reads of a scan: the history, parsed as `git log` writes it
(history.start_commits, commits_oldest_first), and every blob through one cat-file (stream_blobs)."""

from __future__ import annotations

import io
import itertools
import os
import signal
import threading
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kitty_hooks.errors import FatalError
from kitty_hooks.gitrepo import blobs as git_blobs
from kitty_hooks.gitrepo import history as git_history
from kitty_hooks.gitrepo.command import run_git
from tests.gitutil import Repo

PATHS = ("kitty-specs",)


HOSTILE_NAME = "Zo\x1f\x1eë: Ü"
HOSTILE_PATH = "kitty-specs/003-odd/\x1e:1\x1f.md"


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory, module_env: Path) -> tuple[Path, bytes]:
    """A repository with commits under kitty-specs/ (one of 300 files; one whose author and
    path hold the bytes the format uses to separate), and what `git log` says of it at once."""
    del module_env  # no user git config, as in every test
    repo = Repo(tmp_path_factory.mktemp("history") / "repo")
    repo.write("README.md", "root\n")
    repo.commit_all("root")
    for number in range(4):
        repo.write(f"kitty-specs/001-x/tasks/WP0{number}.md", f"lane: planned {number}\n")
        repo.commit_all(f"WP0{number}")
    for number in range(300):
        repo.write(f"kitty-specs/002-many/notes/{number:03d}-{'n' * 60}.md", "x\n")
    repo.commit_all("many files")
    repo.write(HOSTILE_PATH, "x\n")
    repo.git("add", "-A")
    repo.git("commit", "-qm", "odd", f"--author={HOSTILE_NAME} <z\x1f@x>")
    out = run_git(
        repo.path, "log", "--reverse", "--full-history", "--no-renames", "-z", "--raw",
        "--no-abbrev", git_history._FORMAT, "HEAD", "--", *PATHS,
    )  # fmt: skip
    return repo.path, out


def test_the_history_streamed_is_the_history_read_at_once(history: tuple[Path, bytes]) -> None:
    path, out = history
    with git_history.start_commits(path, "HEAD", paths=PATHS) as log:
        streamed = git_history.commits_oldest_first(log)
    assert streamed == list(git_history.parse_commits(out))
    assert [len(c.changes) for c in streamed] == [1, 1, 1, 1, 300, 1]
    odd = streamed[-1]
    assert (odd.author_name, odd.author_email) == (HOSTILE_NAME, "z\x1f@x")
    assert odd.author_date[:4].isdigit() and odd.changes[0].path == HOSTILE_PATH
    assert odd.sha == run_git(path, "rev-parse", "HEAD").decode().strip()


class _Blocks:
    def __init__(self, blocks: list[bytes]) -> None:
        self._blocks = blocks

    def blocks(self) -> list[bytes]:
        return self._blocks


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cuts=st.lists(st.integers(min_value=0, max_value=1 << 20), max_size=40))
def test_a_record_cut_anywhere_between_blocks_parses_the_same(
    history: tuple[Path, bytes], cuts: list[int]
) -> None:
    """git's output comes in pipe-sized blocks, cut anywhere: in a header, a path, a sha."""
    _, out = history
    edges = sorted({0, len(out), *(c % (len(out) + 1) for c in cuts)})
    blocks = [out[a:b] for a, b in itertools.pairwise(edges) if b > a]
    streamed = list(git_history.stream_commits(_Blocks(blocks)))  # type: ignore[arg-type]
    assert streamed == list(git_history.parse_commits(out))


def test_a_range_git_refuses_is_one_line_in_our_words(repo: Repo) -> None:
    repo.write("a.txt", "alpha\n")
    repo.commit_all()
    with (
        pytest.raises(FatalError, match=r"^git log failed in .*: fatal: .*no-such-branch"),
        git_history.start_commits(repo.path, "no-such-branch", paths=PATHS) as log,
    ):
        list(git_history.stream_commits(log))


def test_leaving_before_the_end_stops_git(repo: Repo) -> None:
    for number in range(1500):  # ~300 KB of log: more than a pipe holds, so git is still writing
        repo.write(f"kitty-specs/001-x/notes/{number:04d}-{'n' * 60}.md", "x\n")
    repo.commit_all()
    with git_history.start_commits(repo.path, "HEAD", paths=PATHS) as log:
        pass  # never read: git is killed and reaped, nothing raised
    assert log._process.returncode == -signal.SIGKILL


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


def _commit_dated(repo: Repo, message: str, date: str | None = None) -> str:
    import os
    import subprocess

    env = {**os.environ, **({"GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date} if date else {})}
    subprocess.run(
        ["git", "commit", "-q", "--allow-empty", "-m", message],
        cwd=repo.path, env=env, check=True, capture_output=True,
    )  # fmt: skip
    return repo.git("rev-parse", "HEAD").stdout.strip()


def test_a_commit_dated_ahead_of_the_branch_built_on_it_is_reachable(repo: Repo) -> None:
    """As `git branch --contains` says, whatever the dates: `rev-list --not --all` gives up
    walking a branch after a few commits older than the one asked for."""
    _commit_dated(repo, "root")
    ahead = _commit_dated(repo, "a month ahead", "2030-01-01T00:00:00+00:00")
    repo.git("checkout", "-q", "-b", "feat")
    for index in range(10):
        _commit_dated(repo, f"ordinary {index}")
    repo.git("checkout", "-q", "main")
    repo.git("reset", "-q", "--hard", "HEAD~1")
    assert "feat" in repo.git("branch", "--contains", ahead).stdout
    assert git_history.unreachable_commits(repo.path, [ahead]) == set()
    repo.git("branch", "-q", "-D", "feat")
    assert git_history.unreachable_commits(repo.path, [ahead]) == {ahead}


def test_a_commit_only_a_detached_worktree_head_holds_is_reachable(
    repo: Repo, tmp_path: Path
) -> None:
    _commit_dated(repo, "root")
    held = _commit_dated(repo, "a month ahead", "2030-01-01T00:00:00+00:00")
    repo.git("worktree", "add", "-q", "--detach", str(tmp_path / "wt"), held)
    worktree = Repo.__new__(Repo)
    worktree.path = tmp_path / "wt"
    for index in range(10):  # the detached HEAD moves on: no ref but it holds the commit
        _commit_dated(worktree, f"ordinary {index}")
    repo.git("reset", "-q", "--hard", "HEAD~1")
    assert git_history.unreachable_commits(repo.path, [held]) == set()
    repo.git("worktree", "remove", "--force", str(tmp_path / "wt"))
    assert git_history.unreachable_commits(repo.path, [held]) == {held}


def _written_in_pieces(data: bytes, cuts: list[int]) -> int:
    """A pipe's read end, data written to it in pieces cut at cuts (on a thread), then closed."""
    read_end, write_end = os.pipe()

    def write() -> None:
        edges = sorted({0, len(data), *(c % (len(data) + 1) for c in cuts)})
        for a, b in itertools.pairwise(edges):
            os.write(write_end, data[a:b])
        os.close(write_end)

    threading.Thread(target=write, daemon=True).start()
    return read_end


@settings(max_examples=80, deadline=None)
@given(
    answers=st.lists(st.binary(max_size=3000), max_size=12),
    cuts=st.lists(st.integers(min_value=0, max_value=1 << 16), max_size=30),
    limit=st.integers(min_value=1, max_value=5000),
)
def test_the_read_ahead_reads_what_a_buffered_reader_reads(
    answers: list[bytes], cuts: list[int], limit: int
) -> None:
    """cat-file's answers (a header line, the content, a newline) however git's writes cut
    them and however little the read-ahead may hold."""
    data = b"".join(b"%d blob %d\n" % (n, len(a)) + a + b"\n" for n, a in enumerate(answers))
    reader = git_blobs._ReadAhead(_written_in_pieces(data, cuts), limit)
    buffered = io.BytesIO(data)
    try:
        for answer in answers:
            header = reader.readline()
            assert header == buffered.readline()
            size = int(header.split()[2])
            assert reader.read(size) == buffered.read(size) == answer
            assert reader.read(1) == buffered.read(1) == b"\n"
            reader.take_written()
        assert reader.readline() == b""  # the end
    finally:
        reader.close()


def test_the_read_ahead_takes_no_more_than_its_limit_off_the_pipe() -> None:
    data = bytes(range(256)) * (16 << 10)  # 4 MiB: git blocks on the pipe long before the end
    read_end = _written_in_pieces(data, [])
    reader = git_blobs._ReadAhead(read_end, 10_000)
    while not reader._chunks:
        reader.take_written()
    held = sum(len(chunk) for chunk in reader._chunks)
    assert 10_000 <= held <= git_blobs._READ_BYTES  # one read past the limit at most
    reader.take_written()
    assert sum(len(chunk) for chunk in reader._chunks) == held  # at the limit: nothing more
    assert reader.read(len(data)) == data  # the rest comes when asked for
    assert reader.readline() == b""
    reader.close()

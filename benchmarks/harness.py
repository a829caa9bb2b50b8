"""The harness every benchmark shares: how a child is started, timed, repeated and summed up.

A script imports this module and `_data` (what is timed), never another script. The rules:

- A child runs with `sys.executable` in a hermetic environment (`hermetic_env`): HOME,
  XDG_CONFIG_HOME and KITTY_HOOKS_HOME in a scratch folder, no user or system git config.
- A whole process is timed by `timed`, or by `launch` when the child must be timed from a
  small process of its own (a name git's children look for, a peak RSS of its own).
- Rounds are interleaved in a rotating order (`interleaved`, `rotated`): no command always
  runs first, or right after the same one.
- A row is a median, its spread (min-max) and a ratio to a floor measured in the same rounds.
- `--quick` is a smoke run of a few seconds: it proves the script still runs, its figures
  mean little. `parse` adds it to every script.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import venv
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

PY = sys.executable
ROOT = Path(__file__).resolve().parent.parent
Item = TypeVar("Item")


# --- the command line ------------------------------------------------------------------------


def parser(doc: str) -> argparse.ArgumentParser:
    """A parser whose --help is the script's docstring, as written."""
    return argparse.ArgumentParser(
        description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
    )


def parse(
    arguments: argparse.ArgumentParser,
    argv: Sequence[str] | None,
    *,
    quick: dict[str, Any],
    help: str,
) -> argparse.Namespace:
    """Parse argv, with --quick: the given options take these values (a smoke run)."""
    arguments.add_argument("--quick", action="store_true", help=f"a smoke run: {help}")
    options = arguments.parse_args(argv)
    if options.quick:
        for name, value in quick.items():
            setattr(options, name, value)
    return options


# --- child processes -------------------------------------------------------------------------


def hermetic_env(scratch: Path) -> dict[str, str]:
    """A child environment that reads no user or system git config and writes only to scratch."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("GIT_", "KITTY_HOOKS", "PRE_COMMIT", "SPEC_KITTY"))
    }
    home = scratch / "home"
    home.mkdir(parents=True, exist_ok=True)
    env.update(
        {
            "HOME": str(home),
            "XDG_CONFIG_HOME": str(home / ".config"),
            "KITTY_HOOKS_HOME": str(home / ".spec-kitty" / "kitty-hooks"),
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_AUTHOR_NAME": "Bench Mark",
            "GIT_AUTHOR_EMAIL": "bench@example.com",
            "GIT_COMMITTER_NAME": "Bench Mark",
            "GIT_COMMITTER_EMAIL": "bench@example.com",
            "LC_ALL": "C.UTF-8",
        }
    )
    return env


def run(
    args: list[str], *, cwd: Path | str, env: dict[str, str], expect: int | None = 0
) -> subprocess.CompletedProcess[bytes]:
    """Run a command, failing loudly (with its output) when it exits other than expected."""
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, check=False)
    if expect is not None and done.returncode != expect:
        sys.exit(
            f"benchmark step failed: {' '.join(args)} exited {done.returncode} "
            f"(expected {expect})\n{done.stdout.decode(errors='replace')[-2000:]}"
            f"{done.stderr.decode(errors='replace')[-2000:]}"
        )
    return done


def scratch_dir(prefix: str) -> tempfile.TemporaryDirectory[str]:
    return tempfile.TemporaryDirectory(prefix=prefix)


def precompile() -> None:
    """Measure what an installed kitty-hooks costs: pip compiles a wheel's modules at install
    time. Write kitty_hooks' bytecode once, and let children use it (a machine that sets
    PYTHONDONTWRITEBYTECODE=1 would make every timed child recompile our modules)."""
    import kitty_hooks

    subprocess.run(
        [PY, "-m", "compileall", "-q", str(Path(kitty_hooks.__file__).resolve().parent)],
        env={k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"},
        check=True,
    )
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)


def processes(state: Path, *modules: str) -> list[int]:
    """Live processes running one of these modules with KITTY_HOOKS_HOME=state (from /proc)."""
    wanted = f"KITTY_HOOKS_HOME={state}".encode()
    names = [module.encode() for module in modules]
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            cmdline = Path(entry.path, "cmdline").read_bytes()
            if not any(name in cmdline for name in names):
                continue
            if wanted in Path(entry.path, "environ").read_bytes().split(b"\0"):
                stat = Path(entry.path, "stat").read_text()
                if stat[stat.rindex(")") + 2] != "Z":
                    found.append(int(entry.name))
        except OSError:
            continue
    return found


# --- timing ----------------------------------------------------------------------------------


def timed_run(
    args: list[str],
    *,
    cwd: Path,
    env: dict[str, str],
    expect: int | None = 0,
    quiet: bool = False,
    output: bool = True,
) -> tuple[float, subprocess.CompletedProcess[bytes]]:
    """Wall seconds of one whole process, and the process. It must exit `expect` (None: any
    code) and, when `quiet`, write nothing to stderr. `output=False` sends its output to
    /dev/null."""
    sink = subprocess.PIPE if output else subprocess.DEVNULL
    started = time.perf_counter()
    done = subprocess.run(args, cwd=cwd, env=env, stdout=sink, stderr=sink, check=False)
    elapsed = time.perf_counter() - started
    if (expect is not None and done.returncode != expect) or (quiet and done.stderr):
        sys.exit(
            f"{' '.join(args)} exited {done.returncode} (expected {expect})\n"
            f"{(done.stdout or b'').decode(errors='replace')[-1500:]}"
            f"{(done.stderr or b'').decode(errors='replace')[-1500:]}"
        )
    return elapsed, done


def timed(
    args: list[str],
    *,
    cwd: Path,
    env: dict[str, str],
    expect: int | None = 0,
    quiet: bool = False,
    output: bool = True,
) -> float:
    """Wall seconds of one whole process (as timed_run)."""
    return timed_run(args, cwd=cwd, env=env, expect=expect, quiet=quiet, output=output)[0]


def timed_call(function: Callable[[], object]) -> float:
    """Wall seconds of one call in this process."""
    started = time.perf_counter()
    function()
    return time.perf_counter() - started


def cpu_of(args: list[str], *, env: dict[str, str], cwd: Path) -> float:
    """User + system CPU seconds of a child and everything it waited for."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, check=False)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        sys.exit(f"{' '.join(args)} failed: {done.stderr.decode(errors='replace')}")
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


# The launcher: argv = its process name ("" keeps python's), timeout (0: none), result file,
# working directory, stdin file ("": /dev/null), command... It times the command alone, and its
# peak RSS: started from this small process, a child's ru_maxrss is its own, not the
# benchmark's. A name (prctl PR_SET_NAME) lets it stand in for git: the flush worker and the
# journal drainer wait for an ancestor named git or git-* to exit.
_LAUNCHER = """
import ctypes, json, os, resource, subprocess, sys, time
name, timeout, out, cwd, stdin = sys.argv[1:6]
command, timeout = sys.argv[6:], float(timeout) or None
if name:
    ctypes.CDLL(None).prctl(15, name.encode(), 0, 0, 0)
with open(stdin or os.devnull, "rb") as source:
    started = time.perf_counter()
    try:
        done = subprocess.run(command, cwd=cwd, stdin=source, capture_output=True,
                              timeout=timeout)
        code, stdout, stderr = done.returncode, done.stdout, done.stderr
    except subprocess.TimeoutExpired as exc:
        code, stdout, stderr = "timeout", exc.stdout or b"", exc.stderr or b""
    elapsed = time.perf_counter() - started
peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
with open(out, "w") as f:
    json.dump({"seconds": elapsed, "peak_kb": peak_kb, "code": code,
               "stdout": stdout.decode(errors="replace")[-4000:],
               "stderr": stderr.decode(errors="replace")[-4000:]}, f)
"""


def launch(
    command: list[str],
    *,
    env: dict[str, str],
    scratch: Path,
    cwd: Path | None = None,
    stdin: Path | None = None,
    name: str = "",
    timeout: float = 0,
) -> dict[str, Any]:
    """Run command under the launcher: its seconds, peak_kb, code ("timeout" when killed),
    stdout and stderr (their last 4,000 characters)."""
    result = scratch / f"launch-{time.monotonic_ns()}.json"
    subprocess.run(
        [PY, "-c", _LAUNCHER, name, str(timeout), str(result), str(cwd or scratch),
         str(stdin or ""), *command],
        env=env,
        check=True,
    )  # fmt: skip
    measured = json.loads(result.read_text())
    result.unlink()
    return measured


def rotated(items: Sequence[Item], shift: int) -> list[Item]:
    """items, starting at index shift (modulo their count)."""
    shift %= len(items)
    return [*items[shift:], *items[:shift]]


def interleaved(items: Sequence[Item], rounds: int, warmup: int = 0) -> Iterator[tuple[bool, Item]]:
    """(counted, item) for every item of warmup + rounds rounds, each round rotated by one.

    The warm-up rounds come first and are not counted."""
    for number in range(warmup + rounds):
        for item in rotated(items, number):
            yield number >= warmup, item


# --- summing up ------------------------------------------------------------------------------


median = statistics.median


def spread(values: Iterable[float], *, scale: float = 1000.0, digits: int = 1) -> str:
    """'(min-max)' of the values, in ms by default."""
    values = list(values)
    return f"({min(values) * scale:.{digits}f}-{max(values) * scale:.{digits}f})"


def pairwise(ours: Sequence[float], theirs: Sequence[float]) -> list[float]:
    """The ratio of each pair measured in the same round."""
    return [a / b for a, b in zip(ours, theirs, strict=True)]


def machine() -> str:
    """The interpreter, the CPUs and the load: what a row's figures depend on."""
    return (
        f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average "
        f"{os.getloadavg()[0]:.2f}"
    )


# --- servers ---------------------------------------------------------------------------------


SERVER_USER, SERVER_PASSWORD = "ada", "secret"


def no_proxy_open(request: urllib.request.Request | str, timeout: float = 30) -> Any:
    """The JSON answer of a loopback request (no proxy from the environment)."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(request, timeout=timeout) as answer:
        return json.loads(answer.read())


class Server:
    """A server process on a free loopback port that prints `... listening on URL` first:
    the local ingest server (`kind` "ingest"), or a script's own (`command`)."""

    def __init__(
        self, kind: str, scratch: Path, env: dict[str, str], command: list[str] | None = None
    ) -> None:
        self.kind = kind
        if command is None:
            command = [PY, "-m", "kitty_hooks", "serve", "--port", "0", "--db"]
            command += [str(scratch / "server.db"), "--user", f"{SERVER_USER}:{SERVER_PASSWORD}"]
        self.log = (scratch / f"{kind}-server.log").open("wb")
        self.process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log, env=env
        )
        assert self.process.stdout is not None
        first = self.process.stdout.readline().decode().strip()
        if "listening on http://" not in first:
            self.stop()
            sys.exit(f"the {kind} server did not start: {first!r} (log {self.log.name})")
        self.url = first.rsplit(" ", 1)[-1]
        self.tokens = no_proxy_open(
            urllib.request.Request(
                self.url + "/api/v1/token/",
                data=json.dumps({"username": SERVER_USER, "password": SERVER_PASSWORD}).encode(),
                headers={"Content-Type": "application/json"},
            )
        )

    def total(self) -> int:
        request = urllib.request.Request(
            self.url + "/api/v1/events/?limit=0",
            headers={"Authorization": f"Bearer {self.tokens['access']}"},
        )
        return int(no_proxy_open(request)["total"])

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                stream.close()
        self.log.close()

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# --- the peer: spec-kitty-cli 2.1.3 ----------------------------------------------------------


PEER_REQUIREMENTS = ("spec-kitty-cli==2.1.3", "click")
RESEARCH_VENV = Path("/tmp/research/venv")


def _venv_python(root: Path) -> Path:
    return root / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def peer_env(env: dict[str, str], home: Path) -> dict[str, str]:
    """env for the peer's interpreter: none of our Python or spec-kitty settings, its own HOME
    (spec-kitty computes its ~/.spec-kitty paths at import)."""
    child = {k: v for k, v in env.items() if not k.startswith(("SPEC_KITTY", "PYTHON"))}
    child["HOME"] = str(home)
    return child


def _has_peer(python: Path, home: Path) -> bool:
    if not python.exists():
        return False
    probe = subprocess.run(
        [str(python), "-c", "import specify_cli.sync.queue"],
        env=peer_env(dict(os.environ), home),
        capture_output=True,
        check=False,
    )
    return probe.returncode == 0


def find_peer(explicit: str | None, home: Path, *, make: bool) -> Path | None:
    """An interpreter with spec-kitty-cli 2.1.3: the one given, the research venv, or one made
    once under ~/.cache/kitty-hooks-bench/ (`make`: that first run needs the package index).
    None when there is none and `make` is false."""
    if explicit:
        python = Path(explicit)
        if not _has_peer(python, home):
            sys.exit(
                f"{python} cannot import specify_cli: pip install {' '.join(PEER_REQUIREMENTS)}"
            )
        return python
    if _has_peer(_venv_python(RESEARCH_VENV), home):
        return _venv_python(RESEARCH_VENV)
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    root = cache / "kitty-hooks-bench" / "spec-kitty-cli-2.1.3"
    python = _venv_python(root)
    if _has_peer(python, home):
        return python
    if not make:
        return None
    print(f"making a venv for spec-kitty-cli at {root} (needs the package index once) ...")
    venv.EnvBuilder(with_pip=True, clear=True).create(root)
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", *PEER_REQUIREMENTS],
        capture_output=True,
        text=True,
        check=False,
    )
    if install.returncode != 0 or not _has_peer(python, home):
        sys.exit(f"could not install {' '.join(PEER_REQUIREMENTS)} into {root}:\n{install.stderr}")
    return python


def peer_for(options: argparse.Namespace, home: Path) -> Path | None:
    """The peer a script's options ask for: none with --skip-peer; with --quick only one that
    is already there (a smoke run installs nothing)."""
    if options.skip_peer:
        return None
    home.mkdir(parents=True, exist_ok=True)
    python = find_peer(options.peer_python, home, make=not options.quick)
    if python is None:
        print("spec-kitty-cli 2.1.3: none found (--peer-python names one); timing ours only")
    else:
        print(f"spec-kitty-cli 2.1.3 from {python}")
    return python

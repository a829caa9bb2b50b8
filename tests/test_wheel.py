"""The built wheel, installed into a fresh virtual environment, works on its own.

The wheel is built once per session from this checkout (working tree included), offline, with
the same hatchling backend. It is installed into a fresh venv of its own, as a user would, with
its dependencies resolved by pip from the session's wheelhouse (the running environment's
installed distributions, repacked: see tests/wheelhouse.py) and no index. The venv sees neither
the environment running the tests nor its editable install of this checkout: the tests check
that the venv's own copy, with the JSON Schemas and hook shims shipped under
kitty_hooks/_assets/, is what runs.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from kitty_hooks import __version__
from tests.gitutil import PROJECT_ROOT
from tests.offline import offline_env

pytestmark = pytest.mark.slow

EXAMPLES = Path(__file__).parent / "examples"
WHEEL_ASSETS = "kitty_hooks/_assets"


# Any HTTP a tool tries despite the offline settings goes to a closed port on loopback and fails.
def run(args: list[str | Path], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


def _check(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, f"{result.args}\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="session")
def session_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Session fixtures run before the function-scoped hermetic_env of conftest: they get a HOME
    # of their own instead.
    return tmp_path_factory.mktemp("wheel-home")


@pytest.fixture(scope="session")
def wheel(tmp_path_factory: pytest.TempPathFactory, session_home: Path) -> Path:
    outdir = tmp_path_factory.mktemp("wheel-dist")
    _check(
        run(
            [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", outdir, "."],
            cwd=PROJECT_ROOT,
            env=offline_env(session_home),
        )
    )
    (built,) = outdir.glob("kitty_hooks-*.whl")
    return built


@pytest.fixture(scope="session")
def venv(
    tmp_path_factory: pytest.TempPathFactory, session_home: Path, wheel: Path, wheelhouse: Path
) -> Path:
    """A fresh venv with our wheel and its dependencies installed, from the wheelhouse only."""
    path = tmp_path_factory.mktemp("wheel-venv") / "venv"
    env = offline_env(session_home)
    scratch = tmp_path_factory.mktemp("wheel-cwd")
    # The venv's pip comes from ensurepip's bundled wheel: no download.
    _check(run([sys.executable, "-m", "venv", path], cwd=scratch, env=env))
    _check(
        run(
            [path / "bin" / "python", "-m", "pip", "install", "--no-index", "--find-links",
             wheelhouse, wheel],
            cwd=scratch,
            env=env,
        )
    )  # fmt: skip
    return path


@pytest.fixture
def venv_env(session_home: Path) -> dict[str, str]:
    return offline_env(session_home)


def _site_packages(venv: Path) -> Path:
    (site,) = (venv / "lib").glob("python3*/site-packages")
    return site.resolve()


def test_wheel_ships_schemas_and_hook_shim(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        infos = {info.filename: info for info in archive.infolist()}
        schemas = sorted(p.name for p in (PROJECT_ROOT / "schemas").glob("*.schema.json"))
        assert schemas, "no schemas in the checkout"
        shipped = sorted(
            name.rsplit("/", 1)[1]
            for name in infos
            if name.startswith(f"{WHEEL_ASSETS}/schemas/") and name.endswith(".schema.json")
        )
        assert shipped == schemas
        for name in schemas:
            member = f"{WHEEL_ASSETS}/schemas/{name}"
            assert archive.read(member) == (PROJECT_ROOT / "schemas" / name).read_bytes()

        shim = f"{WHEEL_ASSETS}/hooks/shim"
        assert shim in infos
        assert archive.read(shim) == (PROJECT_ROOT / "hooks" / "shim").read_bytes()
        mode = infos[shim].external_attr >> 16
        assert mode & 0o111, f"{shim} is not executable in the wheel (mode {oct(mode)})"

        (entry_points,) = [n for n in infos if n.endswith(".dist-info/entry_points.txt")]
        assert "kitty-hooks = kitty_hooks.entry:main" in archive.read(entry_points).decode()
        # The package itself, not only the data: every module of the checkout is in it.
        modules = {p.name for p in (PROJECT_ROOT / "kitty_hooks").glob("*.py")}
        assert modules <= {n.rsplit("/", 1)[1] for n in infos if n.startswith("kitty_hooks/")}


def test_venv_imports_its_own_installed_copy(
    venv: Path, venv_env: dict[str, str], tmp_path: Path
) -> None:
    probe = (
        "import json, sys, importlib.metadata as md, kitty_hooks, kitty_hooks.assets as a\n"
        "dist = md.distribution('kitty-hooks')\n"
        "print(json.dumps({'file': kitty_hooks.__file__, 'schemas': str(a.schema_dir()),\n"
        "    'hooks': str(a.hook_shim_dir()), 'version': kitty_hooks.__version__,\n"
        "    'dist': str(dist.locate_file('')), 'direct_url': dist.read_text('direct_url.json'),\n"
        "    'path': sys.path}))\n"
    )
    # -I: neither the working directory nor PYTHON* variables can put the checkout on sys.path.
    result = _check(run([venv / "bin" / "python", "-I", "-c", probe], tmp_path, venv_env))
    info = json.loads(result.stdout)
    site = _site_packages(venv)
    package = Path(info["file"]).resolve().parent

    assert package == site / "kitty_hooks", info
    assert not package.is_relative_to(PROJECT_ROOT.resolve())
    assert Path(info["schemas"]).resolve() == package / "_assets" / "schemas"
    assert Path(info["hooks"]).resolve() == package / "_assets" / "hooks"
    assert (package / "_assets" / "hooks" / "shim").stat().st_mode & 0o111
    # The metadata is the venv's wheel install, not the editable one running the tests.
    assert Path(info["dist"]).resolve() == site
    assert info["direct_url"] is None or '"editable": true' not in info["direct_url"]
    assert info["version"] == __version__
    # The venv stands on its own: no other site-packages (the running environment's, the base
    # interpreter's) and no checkout on its path.
    assert [Path(p).resolve() for p in info["path"] if p.endswith("site-packages")] == [site]
    assert not any(Path(p).resolve().is_relative_to(PROJECT_ROOT.resolve()) for p in info["path"])


@pytest.mark.parametrize("case", ["log-every-lane", "envelopes", "wp-frontmatter"])
def test_installed_console_script_accepts_valid_example(
    case: str, venv: Path, venv_env: dict[str, str], tmp_path: Path
) -> None:
    files = _copy_staged(EXAMPLES / "pass" / case, tmp_path)
    result = run([venv / "bin" / "kitty-hooks", "diagnose", *files], tmp_path, venv_env)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("case", ["log-unknown-lane", "envelope-bad-fields", "wp-unknown-lane"])
def test_installed_console_script_rejects_invalid_example(
    case: str, venv: Path, venv_env: dict[str, str], tmp_path: Path
) -> None:
    case_dir = EXAMPLES / "fail" / case
    files = _copy_staged(case_dir, tmp_path)
    result = run([venv / "bin" / "kitty-hooks", "diagnose", *files], tmp_path, venv_env)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert (case_dir / "expect.txt").read_text(encoding="utf-8").strip() in output
    assert "Traceback" not in output and "internal error" not in output


def test_installed_console_script_reports_version(
    venv: Path, venv_env: dict[str, str], tmp_path: Path
) -> None:
    for command in (["kitty-hooks"], ["python", "-I", "-m", "kitty_hooks"]):
        result = _check(
            run([venv / "bin" / command[0], *command[1:], "--version"], tmp_path, venv_env)
        )
        assert result.stdout.strip() == f"kitty-hooks, version {__version__}"


def _copy_staged(case_dir: Path, dest: Path) -> list[str]:
    shutil.copytree(case_dir / "staged", dest, dirs_exist_ok=True)
    return sorted(
        p.relative_to(case_dir / "staged").as_posix()
        for p in (case_dir / "staged").rglob("*")
        if p.is_file()
    )

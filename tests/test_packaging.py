"""The wheel holds every subpackage and the data files; the root folders cannot be imported by
their bare names (which would create second copies of the modules)."""
from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _expected_packages() -> set[str]:
    out = set()
    for root in ("compiler", "hwspec", "runtime"):
        for init in (ROOT / root).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT)
            out.add("snnc/" + "/".join(rel.parts))
    return out


def build_wheel(out: Path) -> Path:
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(ROOT)],
        capture_output=True, text=True,
    )
    if proc.returncode != 0 and "No module named" in proc.stderr:
        pytest.skip(f"cannot build a wheel here: {proc.stderr.strip()[-200:]}")
    assert proc.returncode == 0, proc.stderr
    return next(out.glob("snnc-*.whl"))


@pytest.mark.slow
def test_wheel_contains_every_subpackage_and_data(tmp_path):
    wheel = build_wheel(tmp_path)
    names = zipfile.ZipFile(wheel).namelist()
    have = {n.rsplit("/", 1)[0] for n in names if n.endswith("/__init__.py")}
    missing = _expected_packages() - have
    assert not missing, f"subpackages missing from the wheel: {sorted(missing)}"
    assert "snnc/hwspec/hw_v1.yaml" in names
    assert "snnc/runtime/artefact_schema.json" in names
    assert any(n.endswith("entry_points.txt") for n in names)


SUPPORTED = ("3.10", "3.11", "3.12", "3.13")  # requires-python >= 3.10; the newest this project tests


def _interpreter(version: str) -> str | None:
    """A working python<version>: on PATH, or an interpreter pyenv keeps (its shims refuse versions
    that are not selected)."""
    import glob
    import shutil

    found = [shutil.which(f"python{version}")] + sorted(glob.glob(str(Path.home() / ".pyenv" / "versions" / f"{version}.*" / "bin" / f"python{version}")))
    for exe in filter(None, found):
        ok = subprocess.run([exe, "-c", "import sys, venv; print('%d.%d' % sys.version_info[:2])"],
                            capture_output=True, text=True)
        if ok.returncode == 0 and ok.stdout.strip() == version:
            return exe
    return None


@pytest.mark.slow
@pytest.mark.parametrize("version", SUPPORTED)
def test_wheel_installs_and_compiles_on_every_supported_python(tmp_path, version):
    """The wheel installs (no download: --no-deps --no-index) into a fresh venv of each supported
    Python found on the machine, and every module of it byte-compiles there (syntax and the
    language features used). Importing needs the dependencies, which a test may not download: the
    full suite runs on the CI interpreter."""
    exe = _interpreter(version)
    if exe is None:
        pytest.skip(f"python{version} is not installed here")
    wheel = build_wheel(tmp_path)
    venv = tmp_path / "venv"
    subprocess.run([exe, "-m", "venv", "--without-pip", str(venv)], check=True, capture_output=True)
    py = venv / "bin" / "python"
    site = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    with zipfile.ZipFile(wheel) as zf:  # what pip install would put in site-packages (no pip in the venv)
        zf.extractall(site)
    proc = subprocess.run([str(py), "-m", "compileall", "-q", str(Path(site) / "snnc")], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    meta = next(Path(site).glob("snnc-*.dist-info")) / "METADATA"
    assert "Requires-Python: >=3.10" in meta.read_text()


@pytest.mark.parametrize("name", ["compiler", "hwspec", "runtime"])
def test_bare_root_import_is_refused(name):
    proc = subprocess.run([sys.executable, "-c", f"import {name}"], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode != 0
    assert f"snnc.{name}" in proc.stderr


def test_version_command():
    from click.testing import CliRunner

    from snnc.compiler import __version__
    from snnc.compiler.cli.main import cli

    res = CliRunner().invoke(cli, ["--version"])
    assert res.exit_code == 0
    assert __version__ in res.output and "snnc" in res.output

"""The project as Python users install it: a wheel built from the checkout, installed into a fresh
virtual environment outside any checkout, runs the command and the README's Python example.

The venv is made without --system-site-packages; the wheel and its dependencies (numpy, rich,
pyserial, pyelftools, invoke, pyocd) are pip-installed into it. torch is the one exception, to keep this test
near two minutes: a .pth file puts a folder holding links to this interpreter's torch and torch's own
dependencies (and nothing else) on the venv's path. With WORKBENCH_WHEEL_TORCH=install the test
pip-installs torch==2.13.0 into the venv instead (several minutes more), as a user would.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from tests.conftest import needs_qemu
from tests.test_owndata import readme_blocks

ROOT = Path(__file__).resolve().parents[1]
TORCH_AND_ITS_DEPENDENCIES = ("torch", "torchgen", "functorch", "filelock", "fsspec", "jinja2", "markupsafe",
                              "networkx", "sympy", "mpmath", "typing_extensions")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    # No build isolation: this venv's setuptools (torch requires one; >= 70 builds wheels by itself) is
    # enough, and no build environment needs to be fetched.
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out),
                    str(ROOT)], check=True, capture_output=True)
    (whl,) = out.glob("*.whl")
    return whl


def test_wheel_carries_what_the_tool_reads(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    assert wheel.name.startswith("sharnn_workbench-")          # not "workbench": that name is taken on PyPI
    res = "workbench/_resources/"
    for board in (ROOT / "boards").glob("*.toml"):
        assert f"{res}boards/{board.name}" in names
    tracked = subprocess.run(["git", "ls-files", "firmware", "zephyr"], cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout.split()
    missing = [f for f in tracked if res + f not in names]
    assert not missing, missing
    assert "workbench/targets/qemu_plugin/insn_count.c" in names
    metadata = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    assert "Name: sharnn-workbench" in metadata


def _link_torch(site: Path, into: Path) -> None:
    into.mkdir()
    for entry in site.iterdir():
        stem = entry.name.split("-")[0].removesuffix(".py").lower()
        if stem in TORCH_AND_ITS_DEPENDENCIES:
            (into / entry.name).symlink_to(entry)


@pytest.fixture(scope="module")
def venv(wheel, tmp_path_factory) -> tuple[Path, dict]:
    """A fresh venv (no system site-packages) with the wheel installed; the environment to run it in."""
    home = tmp_path_factory.mktemp("fresh")
    env_dir = home / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(env_dir)], check=True)
    python = env_dir / "bin" / "python"
    pip = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    if os.environ.get("WORKBENCH_WHEEL_TORCH") == "install":
        subprocess.run(pip + ["torch==2.13.0"], check=True)
    else:
        site_of = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
        venv_site = Path(subprocess.run([str(python), "-c", site_of], capture_output=True, text=True,
                                        check=True).stdout.strip())
        _link_torch(Path(sysconfig.get_paths()["purelib"]), home / "torch-only")
        (venv_site / "torch_from_the_project_venv.pth").write_text(str(home / "torch-only") + "\n")
    subprocess.run(pip + [str(wheel)], check=True)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "WORKBENCH_HOME", "VIRTUAL_ENV")}
    env.update(PATH=f"{env_dir / 'bin'}{os.pathsep}{env['PATH']}", XDG_DATA_HOME=str(home / "data"))
    work = home / "work"
    work.mkdir()
    return work, env


def test_installed_package_is_the_wheel_and_lists_every_board(venv):
    work, env = venv
    where = subprocess.run(["python", "-c", "import workbench, numpy, rich; print(workbench.__file__); "
                            "print(numpy.__file__); import torch; print(torch.__version__)"],
                           cwd=work, env=env, capture_output=True, text=True, check=True).stdout.splitlines()
    assert "/venv/lib/" in where[0]                  # the wheel's package, not the checkout
    assert "/venv/lib/" in where[1] and where[2].startswith("2.13.0")
    out = subprocess.run(["workbench", "boards"], cwd=work, env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    for board in (ROOT / "boards").glob("*.toml"):
        assert board.stem in out.stdout


@needs_qemu
def test_readme_python_example_in_the_fresh_venv(venv):
    work, env = venv
    make, example = readme_blocks("python")
    (work / "make.py").write_text(make)
    (work / "example.py").write_text(example)
    subprocess.run(["python", "make.py"], cwd=work, env=env, check=True)
    out = subprocess.run(["python", "example.py"], cwd=work, env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "1.0"
    built = Path(env["XDG_DATA_HOME"]) / "workbench" / "build"          # it wrote outside any checkout
    assert any(built.iterdir())

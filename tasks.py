"""invoke tasks: ``invoke setup``, ``invoke test``, ``invoke demo`` (see README)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

from invoke import task

# Debian packages, always with --no-install-recommends (the recommends of the Arm toolchain alone
# are 1.5 GB of libstdc++ we never link).
APT_PACKAGES = [
    "gcc", "make",                                   # host build of the kernel (device/host agreement)
    "gcc-arm-none-eabi", "binutils-arm-none-eabi", "libnewlib-arm-none-eabi",
    "qemu-system-arm",
    "clang-14", "libclang-rt-14-dev",                # libFuzzer + ASan/UBSan harnesses (tests/fuzz/)
]
TORCH = "torch==2.13.0"          # the CPU wheel; any other spec downloads GBs of CUDA
AEON = "aeon==1.6.0"             # only a carrier of the UCR/UEA .ts files: installed without deps


def _missing_debian(packages):
    missing = []
    for p in packages:
        ok = subprocess.run(["dpkg-query", "-W", "-f=${Status}", p], capture_output=True, text=True)
        if "install ok installed" not in ok.stdout:
            missing.append(p)
    return missing


@task
def setup(c):
    """Install the Debian packages (apt, --no-install-recommends) and the Python packages (.venv)."""
    missing = _missing_debian(APT_PACKAGES) if shutil.which("dpkg-query") else []
    if missing:
        sudo = "" if os.geteuid() == 0 else "sudo "
        print(f"installing Debian packages: {' '.join(missing)}")
        c.run(f"{sudo}apt-get update -qq", hide="out")
        c.run(f"{sudo}env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "
              f"{' '.join(missing)}", hide="out")
    pip = f"{sys.executable} -m pip install --quiet --disable-pip-version-check"
    c.run(f"{pip} {TORCH}")
    c.run(f"{pip} -r requirements.txt")
    c.run(f"{pip} --no-deps {AEON}")
    c.run(f"{pip} --no-deps -e .")


@task
def test(c, k="", x=False):
    """Run the test suite (pytest). -k selects tests by name, -x stops at the first failure."""
    args = ["-q"] + (["-k", k] if k else []) + (["-x"] if x else [])
    c.run(f"{sys.executable} -m pytest {' '.join(args)}", pty=False)


@task
def demo(c, board="mps2-an386", out=""):
    """Train, export, build, boot the emulated board, stream the test set, write a profile."""
    c.run(f"workbench demo --board {board}" + (f" --out {out}" if out else ""), pty=sys.stdout.isatty())

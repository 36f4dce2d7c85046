"""invoke tasks: ``invoke setup``, ``invoke test``, ``invoke demo`` (see README)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

from invoke import task

# Debian/Ubuntu packages by purpose, always with --no-install-recommends (the recommends of the Arm
# toolchain alone are 1.5 GB of libstdc++ we never link). "run": what running needs (build, emulate);
# "test": that and what the test suite needs besides. Every name exists on Debian 12 and Ubuntu 24.04,
# except chromium, which Ubuntu ships as a snap: a browser already on PATH stands in for it.
APT_SETS = {
    "run": [
        "gcc", "make",                               # host build of the kernel (device/host agreement)
        "gcc-arm-none-eabi", "binutils-arm-none-eabi", "libnewlib-arm-none-eabi",
        "qemu-system-arm",
    ],
    "test": [
        "chromium",                                  # the dashboard's test (headless, offline)
        "clang-14", "libclang-rt-14-dev",            # libFuzzer + ASan/UBSan harnesses (tests/fuzz/)
        "espeak-ng",                                 # speech for the synthetic keywords data set
    ],
}
PURPOSES = {"run": ["run"], "test": ["run", "test"]}
# Commands that satisfy a package when it is not installed as that package.
SATISFIED_BY = {"chromium": ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")}
NOT_PACKAGED = {"chromium": "Ubuntu ships Chromium as a snap: sudo snap install chromium"}
TORCH = "torch==2.13.0"          # the CPU wheel; any other spec downloads GBs of CUDA
AEON = "aeon==1.6.0"             # only a carrier of the UCR/UEA .ts files: installed without deps


def apt_packages(purpose: str) -> list[str]:
    if purpose not in PURPOSES:
        raise SystemExit(f"setup: unknown purpose '{purpose}' (have: {', '.join(PURPOSES)})")
    return [p for group in PURPOSES[purpose] for p in APT_SETS[group]]


def _missing_debian(packages):
    missing = []
    for p in packages:
        ok = subprocess.run(["dpkg-query", "-W", "-f=${Status}", p], capture_output=True, text=True)
        if "install ok installed" not in ok.stdout and not any(shutil.which(b) for b in SATISFIED_BY.get(p, ())):
            missing.append(p)
    return missing


def _has_candidate(package: str) -> bool:
    out = subprocess.run(["apt-cache", "policy", package], capture_output=True, text=True).stdout
    return "Candidate:" in out and "Candidate: (none)" not in out


def _step(n: int, total: int, text: str) -> None:
    print(f"setup {n}/{total}: {text}", flush=True)


@task(help={"purpose": "run: what running needs (Arm toolchain, QEMU, gcc and the Python packages); "
                       "test: that and what the tests need besides (Chromium, clang, espeak-ng) [test]"})
def setup(c, purpose="test"):
    """Install the Debian packages (apt, --no-install-recommends) and the Python packages (.venv)."""
    missing = _missing_debian(apt_packages(purpose)) if shutil.which("dpkg-query") else []
    if missing:
        sudo = "" if os.geteuid() == 0 else "sudo "
        _step(1, 5, f"Debian packages (apt-get, about 1 minute): {' '.join(missing)}")
        c.run(f"{sudo}apt-get update -qq", hide="out")
        for p in missing:
            if not _has_candidate(p):
                why = f" ({NOT_PACKAGED[p]})" if p in NOT_PACKAGED else ""
                raise SystemExit(f"setup: package '{p}' is not available from this machine's apt sources{why}; "
                                 "install it, or set up only what running needs: ./bootstrap.sh --purpose run")
        c.run(f"{sudo}env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "
              f"{' '.join(missing)}", hide="out")
    else:
        _step(1, 5, f"Debian packages ({purpose}): all there")
    pip = f"{sys.executable} -m pip install --quiet --disable-pip-version-check"
    _step(2, 5, f"{TORCH} (the CPU wheel, about 1 minute) into {sys.prefix}")
    c.run(f"{pip} {TORCH}")
    _step(3, 5, "the pinned Python packages of requirements.txt")
    c.run(f"{pip} -r requirements.txt")
    _step(4, 5, f"{AEON} without its dependencies (it carries the UCR/UEA data files)")
    c.run(f"{pip} --no-deps {AEON}")
    _step(5, 5, "workbench itself (editable)")
    c.run(f"{pip} --no-deps -e .")


@task
def test(c, k="", x=False):
    """Lint (ruff, pyproject.toml's rules), then run the test suite (pytest) and list the 15 slowest tests.
    -k selects tests by name, -x stops at the first failure."""
    print("lint: ruff check .", flush=True)
    c.run(f"{sys.executable} -m ruff check .", pty=False)
    args = ["-q", "--durations=15"] + (["-k", k] if k else []) + (["-x"] if x else [])
    c.run(f"{sys.executable} -m pytest {' '.join(args)}", pty=False)


@task
def demo(c, board="mps2-an386", out=""):
    """Train, export, build, boot the emulated board, stream the test set, write a profile."""
    c.run(f"workbench demo --board {board}" + (f" --out {out}" if out else ""), pty=sys.stdout.isatty())


@task
def gate(c):
    """The regression gate: re-measure every committed baseline model, compare with --fail-over."""
    import tempfile
    from pathlib import Path

    from workbench.profile.baselines import load_manifest

    failed = []
    with tempfile.TemporaryDirectory(prefix="wb-gate-") as tmp:
        for b in load_manifest():
            new = Path(tmp) / f"{b.name}.json"
            c.run(f"{sys.executable} -m workbench.cli " + " ".join(_quote(a) for a in b.run_args(new)))
            r = c.run(f"{sys.executable} -m workbench.cli " + " ".join(_quote(a) for a in b.compare_args(new)),
                      warn=True)
            if r.exited != 0:
                failed.append(b.name)
    if failed:
        raise SystemExit(f"gate failed for: {', '.join(failed)}")


@task
def baselines(c):
    """Re-measure the committed baselines (training a model file only if it is missing). Review, then commit."""
    from workbench.profile.baselines import load_manifest

    for b in load_manifest():
        if not b.model.exists():
            t = b.train
            c.run(f"{sys.executable} -m workbench.cli train --dataset {b.dataset} --family {t['family']} "
                  f"--cells {','.join(t['cells'])} --hidden {','.join(map(str, t['hidden']))} --k {t['k']} "
                  f"--epochs {t['epochs']} --seed {t['seed']} --out {_quote(str(b.model))}")
        c.run(f"{sys.executable} -m workbench.cli " + " ".join(_quote(a) for a in b.run_args(b.profile)))


def _quote(arg) -> str:
    import shlex

    return shlex.quote(str(arg))

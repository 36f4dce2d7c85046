"""The CI regression gate: the current build against the committed baselines (profiles/baselines/),
and the gate's two answers on real rebuilds: 0 for an identical rebuild, non-zero for a firmware whose
instruction count grew ~6% (built at -O1 without loop-header copying and with frame pointers).

Each test is one QEMU session of the 40 BasicMotions test windows (~15-30 s here)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys

import pytest

from tests.conftest import needs_qemu, slow
from workbench.models.modelfile import load
from workbench.paths import build_dir
from workbench.profile import load_profile
from workbench.profile.baselines import load_manifest

pytestmark = needs_qemu
BASELINES = load_manifest()
# A deliberately slower firmware: the kernel's C at -O0 (+262% instructions per full window on the
# sharnn-gru baseline; -O1 variants cost the float kernels under 3% since their core is assembly).
SLOW_BUILD = ("--opt=-O0",)


def workbench(*args):
    return subprocess.run([sys.executable, "-m", "workbench.cli", *map(str, args)], capture_output=True, text=True)


def test_manifest_names_committed_files():
    assert BASELINES, "no baselines committed"
    for b in BASELINES:
        profile = load_profile(b.profile)
        assert load(b.model).content_hash == profile["model"]["sha256"], b.name   # the model is pinned
        assert profile["board"] == b.board and profile["dataset"]["name"] == b.dataset
        assert profile["target"]["counter"] == "qemu-plugin-instructions"


@slow
@pytest.mark.parametrize("baseline", BASELINES, ids=[b.name for b in BASELINES])
def test_current_build_against_committed_baseline(baseline, tmp_path):
    # A true rebuild: nothing of an earlier build of this model is reused.
    shutil.rmtree(build_dir() / load(baseline.model).content_hash[:12], ignore_errors=True)
    new = tmp_path / "new.json"
    proc = workbench(*baseline.run_args(new))
    assert proc.returncode == 0, proc.stderr[-2000:]
    gate = workbench(*baseline.compare_args(new))
    assert gate.returncode == 0, gate.stdout[-4000:]
    assert "gate passed" in gate.stdout


@slow
def test_gate_fails_a_slower_build_and_passes_a_rebuild(tmp_path):
    base = BASELINES[0]
    shutil.rmtree(build_dir() / load(base.model).content_hash[:12], ignore_errors=True)
    same, slow = tmp_path / "same.json", tmp_path / "slow.json"
    assert workbench(*base.run_args(same)).returncode == 0
    proc = workbench(*base.run_args(slow, *SLOW_BUILD))
    assert proc.returncode == 0, proc.stderr[-2000:]

    rebuild = workbench("compare", base.profile, same, "--fail-over", "5")
    assert rebuild.returncode == 0, rebuild.stdout[-3000:]
    gate = workbench("compare", base.profile, slow, "--fail-over", "5")
    assert gate.returncode == 1, gate.stdout[-3000:]
    line = gate.stdout.strip().splitlines()[-1]
    assert line.startswith("gate failed")
    grew = float(re.search(r"cost\.full_window\.median \+([\d.]+)%", line).group(1))
    assert grew > 5.0, line
    # Cost only: the slower build computes the same logits, so no accuracy or agreement moved.
    b, s = json.loads(base.profile.read_text()), json.loads(slow.read_text())
    assert [w["logits"] for w in b["windows"]] == [w["logits"] for w in s["windows"]]
    assert not re.search(r"(accuracy|agreement)\.\S+ [\d.]+ ->", line)
    assert s["extra"]["build"] == {"opt": "-O0", "extra_cflags": ""}
    # A looser gate lets it through.
    assert workbench("compare", base.profile, slow, "--fail-over", "400").returncode == 0

"""libFuzzer + ASan + UBSan over the device code that parses host data (tests/fuzz/): each harness runs
from the committed seeds for WORKBENCH_FUZZ_SECONDS (30 by default) and must not find a crash.
A million executions each: ``python -m tests.fuzz.fuzz --runs 1000000``."""

from __future__ import annotations

import os

import pytest

from tests.conftest import slow
from tests.fuzz import fuzz

SECONDS = int(os.environ.get("WORKBENCH_FUZZ_SECONDS", "30"))
pytestmark = pytest.mark.skipif(fuzz.clang() is None, reason="needs clang-14 and libclang-rt-14-dev")


@slow                    # each harness runs for SECONDS
@pytest.mark.parametrize("name", sorted(fuzz.HARNESSES))
def test_harness_finds_no_crash(name, tmp_path):
    exe = fuzz.build(name, tmp_path / "bin")
    r = fuzz.run(name, exe, seconds=SECONDS, work_dir=tmp_path / "work")
    assert not r.crashed, f"fuzz_{name} crashed after {r.runs} runs:\n{r.log_tail}"
    assert r.runs > 1000, r.log_tail
    print(f"fuzz_{name}: {r.runs:,} executions in {r.seconds:.1f} s")


def test_seed_corpus_is_committed():
    for name in fuzz.HARNESSES:
        assert len(list((fuzz.CORPUS / name).iterdir())) >= 5
    assert fuzz.seeds()["frame"]["hello"] == (fuzz.CORPUS / "frame" / "hello").read_bytes()

"""Disks that are full or read-only: outputs are checked before slow work, a measured profile is never
lost (it goes to a fallback file the one line names), nothing half-written is left, and a full disk is
named as the cause (not as "ld returned 1").

The file-system tests mount a small tmpfs and skip where that is not allowed (root is needed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import needs_qemu, tiny_model
from tests.odd_places import checkout_at, fill, one_line, small_tmpfs, workbench
from tests.profile_samples import sample_profile
from workbench.errors import WorkbenchError
from workbench.filesystem import check_writable, write_atomic
from workbench.models import modelfile
from workbench.profile import load_profile, write_profile


@pytest.fixture
def model(tmp_path):
    return modelfile.save(modelfile.from_module(tiny_model(seed=23), {"dataset": "BasicMotions"}), tmp_path / "m.wbm")


def test_out_on_a_read_only_file_system_is_refused_at_once_before_building(tmp_path, model):
    path = model
    home = checkout_at(tmp_path / "home")
    with small_tmpfs(tmp_path / "ro", "1m", read_only=True) as ro:
        proc = workbench("run", "--model", path, "--out", ro / "p.json", home=home)
    line = one_line(proc, 2)
    assert line == f"workbench: error: cannot write the profile {ro}/p.json: read-only file system (EROFS)"
    assert not (home / "build").exists()                  # refused before anything was built


def test_out_on_a_full_file_system_is_refused_at_once(tmp_path, model):
    path = model
    with small_tmpfs(tmp_path / "full", "256k") as full:
        fill(full)
        proc = workbench("run", "--model", path, "--out", full / "sub" / "p.json")
        assert sorted(p.name for p in full.iterdir()) == ["filler"]
    assert one_line(proc, 2) == f"workbench: error: cannot write the profile {full}/sub/p.json: no space left on " \
                                "the device (ENOSPC)"


def test_a_full_disk_mid_write_leaves_no_temp_file(tmp_path):
    with small_tmpfs(tmp_path / "t", "256k") as t:
        fill(t, leave=8192)
        with pytest.raises(WorkbenchError, match=r"^cannot write the dashboard .*/d.html: no space left on the "
                                                 r"device \(ENOSPC\)$"):
            write_atomic(t / "d.html", "x" * 100_000, what="write the dashboard")
        assert sorted(p.name for p in t.iterdir()) == ["filler"]


def test_dashboard_on_a_full_disk_is_one_line_and_leaves_nothing(tmp_path):
    profile = write_profile(sample_profile(), tmp_path / "p.json")
    with small_tmpfs(tmp_path / "t", "256k") as t:
        fill(t, leave=8192)               # room for the writability probe, not for the page
        proc = workbench("dashboard", profile, "--out", t / "d.html")
        assert sorted(p.name for p in t.iterdir()) == ["filler"]
    assert one_line(proc, 2) == f"workbench: error: cannot write the dashboard {t}/d.html: no space left on the " \
                                "device (ENOSPC)"


def test_check_writable_names_the_cause(tmp_path):
    assert check_writable(tmp_path / "new" / "deeper" / "p.json") == tmp_path / "new" / "deeper" / "p.json"
    assert not (tmp_path / "new").exists()               # a check creates nothing
    with small_tmpfs(tmp_path / "ro", "64k", read_only=True) as ro:
        with pytest.raises(WorkbenchError, match=r"read-only file system \(EROFS\)"):
            check_writable(ro / "x.json", "write the profile")


@needs_qemu
def test_disk_full_at_the_profile_write_keeps_the_profile_in_the_fallback_file(tmp_path, model):
    """The measurement runs, then the disk fills up (another process, a log): the profile goes to the
    fallback file that the one line names, and nothing partial is left where it should have gone."""
    from workbench.pipeline.run import run
    from workbench.pipeline.spec import RunSpec

    path = model
    with small_tmpfs(tmp_path / "t", "512k") as t:
        def on_stage(text):
            if text.startswith("streaming"):
                fill(t)                  # full after the output check, before the write

        with pytest.raises(WorkbenchError) as e:
            run(RunSpec(path, limit=2, out=t / "p.json"), on_stage=on_stage)
        assert sorted(p.name for p in t.iterdir()) == ["filler"]
    message = str(e.value)
    assert "\n" not in message
    assert message.startswith(f"cannot write the profile {t}/p.json: no space left on the device (ENOSPC); the "
                              "measured profile is saved in ")
    rescue = Path(message.rsplit(" ", 1)[1])
    rescued = load_profile(rescue)
    rescue.unlink()
    assert rescued["dataset"]["count"] == 2 and len(rescued["windows"]) == 2
    assert rescued["metrics"]["cost.full_window.median"]["source"] == "qemu-plugin-instructions"


@needs_qemu
def test_a_full_disk_during_the_build_is_named_not_blamed_on_the_linker(tmp_path, model):
    path = model
    with small_tmpfs(tmp_path / "home", "600k") as home:
        checkout_at(home)                # firmware/ and boards/ fit; the build does not
        proc = workbench("build", "--model", path, home=home)
    line = one_line(proc, 2)
    assert "no space left on the device (ENOSPC)" in line, line
    assert "ld returned" not in line and "collect2" not in line


def test_profiles_are_strict_json(tmp_path):
    p = sample_profile()
    p["metrics"]["cost.full_window.median"]["value"] = float("inf")
    with pytest.raises(ValueError, match="non-finite"):
        write_profile(p, tmp_path / "p.json")
    assert not list(tmp_path.iterdir())
    text = json.dumps(sample_profile()).replace('"value": 0.975', '"value": NaN', 1)
    (tmp_path / "nan.json").write_text(text)
    proc = workbench("compare", tmp_path / "nan.json", tmp_path / "nan.json")
    assert one_line(proc, 2) == f"workbench: error: profile {tmp_path}/nan.json is not strict JSON: it holds NaN " \
                                "(strict parsers refuse it)"

"""Cached build products rot (a full disk, a killed build, a bad sector): each is verified against the
stamp its build left, and rebuilt when it does not match, so the next run succeeds instead of dying
(a truncated host library was a SIGBUS with nothing printed, a truncated plugin a misleading link error).
"""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest

from tests.conftest import needs_qemu, slow, tiny_model
from tests.odd_places import checkout_at, workbench
from workbench.build import cache
from workbench.models import modelfile

needs_gcc = pytest.mark.skipif(shutil.which("gcc") is None, reason="needs the host gcc")


def truncate(path, keep=0.5):
    size = path.stat().st_size
    os.truncate(path, int(size * keep))
    return size


@pytest.fixture(scope="module")
def mf():
    return modelfile.from_module(tiny_model(seed=77), {"dataset": "BasicMotions"})


@needs_gcc
def test_a_truncated_host_library_is_rebuilt(tmp_path, mf):
    """(Not loaded before it is truncated: a library this process has mapped stays mapped under its name,
    and a later run, another process, is the case that matters.)"""
    from workbench.build.host import HostKernel, build_host_library
    from workbench.export.c import export_c

    info = export_c(mf, tmp_path / "export")
    lib = build_host_library(info, tmp_path / "host")
    good = lib.read_bytes()
    truncate(lib)
    assert build_host_library(info, tmp_path / "host") == lib and lib.read_bytes() == good
    assert cache.intact(lib, cache_inputs(lib))
    x = np.random.default_rng(0).normal(size=(100, 6)).astype("<f4")
    assert np.isfinite(HostKernel(lib, info).infer(x)).all()


def cache_inputs(product):
    return json.loads(cache.stamp_path(product).read_text())["inputs"]


@needs_gcc
def test_a_truncated_or_changed_qemu_plugin_is_rebuilt(tmp_path):
    from workbench.targets.qemu_plugin import build_plugin

    plugin = build_plugin(tmp_path)
    good = plugin.read_bytes()
    truncate(plugin, 0.1)
    assert build_plugin(tmp_path) == plugin and plugin.read_bytes() == good
    plugin.write_bytes(good[:-1] + bytes([good[-1] ^ 1]))      # one flipped bit, same size
    assert build_plugin(tmp_path) == plugin and plugin.read_bytes() == good


@needs_qemu
@pytest.mark.parametrize("damage", ["firmware.elf", "obj/wb_runner.o", "obj/sharnn_f32.o", "no stamp"])
def test_a_damaged_firmware_product_is_rebuilt(tmp_path, mf, damage):
    from workbench.boards import load_board
    from workbench.pipeline import export_and_build

    board = load_board("mps2-an386")
    built = export_and_build(mf, board, root=tmp_path)
    out = built.artifact.elf.parent
    products = {p: p.read_bytes() for p in [*sorted((out / "obj").glob("*.o")), built.artifact.elf]}
    if damage == "no stamp":                 # a build killed before it finished: its products are unknown
        (out / cache.OUTPUTS).unlink()
        for p in products:
            os.utime(p)
    else:
        truncate(out / damage)
    again = export_and_build(mf, board, root=tmp_path)
    assert again.artifact.memory == built.artifact.memory
    assert {p: p.read_bytes() for p in products} == products       # every product rebuilt bit for bit


@needs_qemu
@slow
def test_a_run_after_every_cached_product_rotted_rebuilds_and_succeeds(tmp_path, mf):
    """Truncate the host library, the plugin, the firmware ELF and an object in one checkout's build
    folder: the next run rebuilds each and gives the logits and counts of the first."""
    home = checkout_at(tmp_path / "home")
    path = modelfile.save(mf, tmp_path / "m.wbm")
    first = workbench("run", "--model", path, "--limit", "2", "--out", tmp_path / "a.json", home=home)
    assert first.returncode == 0, first.stderr[-3000:]
    build = home / "build"
    rotted = [*build.glob("*/host/libwbmodel-*.so"), *build.glob("qemu_plugin/insn_count-*.so"),
              *build.glob("*/mps2-an386-f32-dsp/firmware.elf"), *build.glob("*/mps2-an386-f32-dsp/obj/wb_frame.o")]
    assert len(rotted) == 4, rotted
    for p in rotted:
        truncate(p)
    second = workbench("run", "--model", path, "--limit", "2", "--out", tmp_path / "b.json", home=home)
    assert second.returncode == 0, second.stderr[-3000:]
    a, b = (json.loads((tmp_path / n).read_text()) for n in ("a.json", "b.json"))
    assert [(w["logits"], w["cost"], w.get("stream_cost")) for w in a["windows"]] == \
        [(w["logits"], w["cost"], w.get("stream_cost")) for w in b["windows"]]

"""A checkout at a path with a space, a comma and a non-ASCII letter ("/home/me/wb ä,x") builds and runs
like any other: make, the linker and QEMU's option parser get plain aliases of such paths (a space
splits a make word, a comma splits gcc's -Wl, options and QEMU's -plugin arguments)."""

from __future__ import annotations

import json

import pytest

from tests.conftest import needs_qemu, slow, tiny_model
from tests.odd_places import checkout_at, workbench
from workbench.filesystem import PLAIN, plain_path
from workbench.models import modelfile

ODD = "wb ä,x (copy)"


@pytest.fixture(scope="module")
def odd(tmp_path_factory):
    folder = tmp_path_factory.mktemp("odd") / ODD
    home = checkout_at(folder)
    model = modelfile.save(modelfile.from_module(tiny_model(seed=5), {"dataset": "BasicMotions"}),
                           folder / "my model, v2.wbm")
    return home, model


def test_plain_path_is_the_path_itself_when_plain_else_a_stable_alias(tmp_path):
    assert plain_path("/usr/lib/x_y-1.2+3@4") == "/usr/lib/x_y-1.2+3@4"
    folder = tmp_path / ODD
    folder.mkdir()
    (folder / "f.txt").write_text("hello")
    alias = plain_path(folder)
    assert PLAIN.fullmatch(alias) and alias == plain_path(folder)       # same path, same alias
    assert open(f"{alias}/f.txt").read() == "hello"
    assert plain_path(folder / "f.txt") == f"{alias}/f.txt"              # files keep their names (x.c -> x.o)


@needs_qemu
@slow
def test_build_from_an_odd_path(odd):
    home, model = odd
    proc = workbench("build", "--model", model, home=home)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert list((home / "build").glob("*/mps2-an386-f32-dsp/firmware.elf"))


@needs_qemu
@slow
@pytest.mark.parametrize("extra", [[], ["--quant", "q15", "--link", "semihost"]], ids=["uart", "q15-semihost"])
def test_run_from_an_odd_path(odd, extra):
    home, model = odd
    out = home / f"profile {'-'.join(extra) or 'uart'}, ö.json"
    proc = workbench("run", "--model", model, "--limit", "2", *extra, "--out", out, home=home)
    assert proc.returncode == 0, proc.stderr[-3000:]
    p = json.loads(out.read_text())
    assert p["metrics"]["agreement.device_host"]["value"] == 1.0
    assert p["metrics"]["cost.full_window.median"]["source"] == "qemu-plugin-instructions"

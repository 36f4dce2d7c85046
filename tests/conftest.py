"""Shared fixtures: small trained models, tool availability, the markers' meaning.

Markers (declared in pyproject.toml):
- ``qemu``: the test needs arm-none-eabi-gcc or qemu-system-arm. ``needs_qemu`` is that marker; the
  hook below turns it into a skip where the tools are missing, so ``pytest -m "not qemu"`` is the
  suite of a machine without them and ``pytest -m qemu`` the part that needs them.
- ``slow``: the test took more than ~10 s on the 2-core development machine (``--durations``).
"""

from __future__ import annotations

import shutil

import pytest
import torch
from hypothesis import settings

HAVE_ARM = shutil.which("arm-none-eabi-gcc") is not None and shutil.which("qemu-system-arm") is not None
needs_qemu = pytest.mark.qemu
slow = pytest.mark.slow

# Property tests check what holds, not how fast: no per-example deadline (hypothesis' default 200 ms
# fails them on a loaded machine). Loaded here, before any test module builds its @settings.
settings.register_profile("workbench", deadline=None)
settings.load_profile("workbench")


def pytest_collection_modifyitems(config, items):
    skip = pytest.mark.skip(reason="needs arm-none-eabi-gcc and qemu-system-arm")
    for item in items:
        if item.get_closest_marker("qemu") is not None and not HAVE_ARM:
            item.add_marker(skip)


def tiny_model(cells=("gru", "gru"), hidden=(8, 8), k=10, window=100, input_dim=6, num_classes=4, family="sharnn",
               seed=0, options=None):
    """An untrained but normalised model with random weights (enough for bit-exactness checks);
    ``options``: cell options per level (e.g. [{"layers": 2}, {}])."""
    from workbench.models import build_model

    torch.manual_seed(seed)
    cfg = {"family": family, "cells": list(cells), "hidden": list(hidden), "window": window, "input_dim": input_dim,
           "num_classes": num_classes}
    if family == "sharnn":
        cfg["k"] = k
    else:
        cfg["cells"], cfg["hidden"] = cfg["cells"][:1], cfg["hidden"][:1]
    if options:
        cfg["cell_options"] = list(options)[:len(cfg["cells"])]
    model = build_model(cfg)
    with torch.no_grad():
        model.norm.mean.uniform_(-0.5, 0.5)
        model.norm.inv_std.uniform_(0.5, 2.0)
    return model.eval()


@pytest.fixture(scope="session")
def basicmotions():
    from workbench.data import load_dataset

    return load_dataset("BasicMotions", "train"), load_dataset("BasicMotions", "test")


@pytest.fixture
def qemu_targets(monkeypatch):
    """Every QemuTarget created during the test (to check afterwards that each was reaped)."""
    from workbench.targets.qemu import QemuTarget

    made = []
    init = QemuTarget.__init__

    def spy(self, *a, **kw):
        init(self, *a, **kw)
        made.append(self)

    monkeypatch.setattr(QemuTarget, "__init__", spy)
    return made

"""Models stage: torch cells, ShaRNN and baselines, training, model files.

Attributes are imported lazily: loading or checking a model file must not pay for importing torch
(seconds), so error paths stay instant.
"""

from importlib import import_module

_LAZY = {"CELLS": "cells", "make_cell": "cells", "ShaRNN": "sharnn", "ShaRNNStream": "sharnn",
         "SingleRNN": "sharnn", "build_model": "sharnn", "count_parameters": "sharnn"}


def __getattr__(name):
    if name in _LAZY:
        return getattr(import_module(f"workbench.models.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'workbench.models' has no attribute {name!r}")

"""workbench: put a recurrent time-series classifier on a Cortex-M4 and measure it.

The Python API (``import workbench as wb``): ``wb.load_data``, ``wb.train``, ``wb.from_torch``,
``wb.run``, ``wb.load_model`` (``workbench/api.py``). Its names load on first use, so ``import
workbench`` stays light (no torch until a function needs it).
"""

__version__ = "0.1.0"

_API = ("Data", "Model", "from_torch", "load_data", "load_model", "run", "train")
__all__ = [*_API, "WorkbenchError", "__version__"]


def __getattr__(name):
    if name in _API:
        from workbench import api

        return getattr(api, name)
    if name == "WorkbenchError":
        from workbench.errors import WorkbenchError

        return WorkbenchError
    raise AttributeError(f"module 'workbench' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))

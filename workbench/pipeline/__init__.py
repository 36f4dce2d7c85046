"""The pipeline: the stages wired into whole jobs, below the CLI and the Python API.

- ``spec``: ``RunSpec``, every option of a run, checked once;
- ``run``: one run, a RunSpec in, a written profile out;
- ``firmware``: model file -> export -> build -> target -> session -> profile (bare metal, Zephyr);
- ``micropython``: the same for MicroPython boards (files, mpremote, the REPL);
- ``training``: a data set in, a model file out.

The names below are the firmware path's, for callers that wire stages themselves (tests, benchmarks).
"""

from importlib import import_module

# Loaded on first use (PEP 562): importing workbench.pipeline.spec for the CLI's choices must not pull
# in numpy and pyelftools, so `workbench --help` and a refused option answer at once.
_FROM = {**dict.fromkeys(("Built", "device_failure", "device_inputs", "export_and_build", "host_kernel", "host_logits",
                          "host_sliding_logits", "model_summary", "model_windows", "quantize", "reference_logits",
                          "reference_sliding_logits", "run_on_qemu", "run_on_target", "stream_of_windows",
                          "target_factory", "torch_logits"), "firmware"),
         **dict.fromkeys(("BuildOptions", "RunSpec", "check_quantization"), "spec")}

__all__ = sorted(_FROM)


def __getattr__(name: str):
    if name not in _FROM:
        raise AttributeError(f"module 'workbench.pipeline' has no attribute {name!r}")
    return getattr(import_module(f"workbench.pipeline.{_FROM[name]}"), name)

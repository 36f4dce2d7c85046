"""The pipeline: the stages wired into whole jobs, below the CLI and the Python API.

- ``spec``: ``RunSpec``, every option of a run, checked once;
- ``run``: one run, a RunSpec in, a written profile out;
- ``firmware``: model file -> export -> build -> target -> session -> profile (bare metal, Zephyr);
- ``micropython``: the same for MicroPython boards (files, mpremote, the REPL);
- ``training``: a data set in, a model file out.

The names below are the firmware path's, for callers that wire stages themselves (tests, benchmarks).
"""

from workbench.pipeline.firmware import (
                                         Built,
                                         device_failure,
                                         device_inputs,
                                         export_and_build,
                                         host_kernel,
                                         host_logits,
                                         host_sliding_logits,
                                         model_summary,
                                         model_windows,
                                         quantize,
                                         reference_logits,
                                         reference_sliding_logits,
                                         run_on_qemu,
                                         run_on_target,
                                         stream_of_windows,
                                         target_factory,
                                         torch_logits,
)
from workbench.pipeline.spec import BuildOptions, RunSpec, check_quantization

__all__ = ["Built", "BuildOptions", "RunSpec", "check_quantization", "device_failure", "device_inputs",
           "export_and_build", "host_kernel", "host_logits", "host_sliding_logits", "model_summary", "model_windows",
           "quantize", "reference_logits", "reference_sliding_logits", "run_on_qemu", "run_on_target",
           "stream_of_windows", "target_factory", "torch_logits"]

"""Quantize stage: the fixed-point plan of a model and its numpy integer reference (the golden model).

    qm = quantize_model(model_file, calibration_windows)      # plan.py
    x_q = qm.quantize_inputs(windows)                          # the device's int16 inputs
    logits = reference.infer(qm, x_q)                          # int32 logits the C kernel must equal

Schemes: ``q15`` (int16 weights and activations, int32 accumulators). See ``plan.py`` for the rules
and ``fixedpoint.py`` for the arithmetic.
"""

from workbench.quantize.plan import QuantModel, quantize_model

QUANT_SCHEMES = ("f32", "q15")

__all__ = ["QUANT_SCHEMES", "QuantModel", "quantize_model"]

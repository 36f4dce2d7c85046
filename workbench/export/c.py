"""Model file (float) or quantized model (int16 plan) -> generated C for the sharnn kernel library.

Writes three files into the output folder:
- ``wb_model_data.c``: the weights as const arrays in section ``.rodata.sharnn_weights`` (linker
  scripts keep them in flash and report their size), the ``wb_net`` descriptor, and
  ``wb_net_input()``, which turns raw sensor values into the kernel's input (float: a copy, the
  kernel normalises; int16: the host's input quantizer, normalisation folded in, bit for bit);
- ``wb_model_config.h``: shapes, buffer sizes in elements, the model hash, the quantization, and for
  an application of its own the declarations of ``wb_net``, ``wb_net_input()`` and the element types
  of the kernel's buffers;
- ``export.json``: what was exported, for the build and profile stages.

Floats are written as C99 hex literals, so the compiled constants equal the trained float32 bits.
Integer weights are written in the kernel's interleaved block layout (see sharnn.h): the rows of a
block are interleaved by column pairs so the device fetches one pair of every row with one load.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from workbench.errors import WorkbenchError
from workbench.filesystem import io_error, write_if_changed
from workbench.models.modelfile import ModelFile

CELL_KIND = {"lstm": 1, "gru": 2}
CELL_GATES = {"lstm": 4, "gru": 3}


@dataclass
class ExportInfo:
    """What the build and profile stages need to know about an exported model."""

    model_hash: str
    quantization: str          # "f32" | "q15"
    window: int
    input_dim: int
    k: int
    levels: int
    num_classes: int
    input_dtype: str
    output_dtype: str
    scratch_len: int           # elements of the kernel scratch buffer
    stream_len: int            # elements of the streaming brick ring
    weight_bytes: int
    parameters: int
    directory: str
    device_input_dim: int = 0  # channels per step the device takes (int plans pad odd D with a zero)
    plan: dict | None = None   # the fixed-point plan (QuantModel.summary()) of integer exports

    def __post_init__(self):
        self.device_input_dim = self.device_input_dim or self.input_dim

    @property
    def element_bytes(self) -> int:
        return 4 if self.quantization == "f32" else 2

    def save(self, path: Path) -> None:
        write_if_changed(path, json.dumps(asdict(self), indent=1, sort_keys=True), what="write the export record")

    @classmethod
    def load(cls, path: Path) -> "ExportInfo":
        return cls(**json.loads(Path(path).read_text()))


def _state_len(kind: str, hidden: int) -> int:
    return 2 * hidden if kind == "lstm" else hidden


def scratch_len(config: dict) -> int:
    """Mirror of sharnn_f32_scratch_len() in firmware/sharnn/src/sharnn_f32.c."""
    cells, hidden = config["cells"], config["hidden"]
    n = config["input_dim"] + sum(_state_len(c, h) for c, h in zip(cells, hidden))
    return n + max(2 * CELL_GATES[c] * h for c, h in zip(cells, hidden))


def c_float(v: float) -> str:
    v = float(np.float32(v))
    if v == 0.0:
        return "-0.0f" if np.signbit(v) else "0.0f"
    return v.hex() + "f"


def c_array(name: str, arr: np.ndarray, ctype: str = "float") -> str:
    """A const array in the weights section; ctype float (hex literals), int16_t or int32_t."""
    if ctype == "float":
        flat = np.asarray(arr, dtype=np.float32).ravel()
        fmt, per_row = c_float, 6
    else:
        info = np.iinfo(ctype.replace("_t", ""))
        flat = np.asarray(arr, dtype=np.int64).ravel()
        if flat.size and (flat.min() < info.min or flat.max() > info.max):
            raise ValueError(f"{name}: values outside {ctype}")
        # INT32_MIN has no literal in C (2147483648 is not an int): write it as an expression.
        fmt, per_row = (lambda v: f"({v + 1} - 1)" if v == info.min and ctype == "int32_t" else str(int(v))), 12
    rows = [", ".join(fmt(v) for v in flat[i:i + per_row]) for i in range(0, len(flat), per_row)]
    body = ",\n    ".join(rows)
    return f"static const {ctype} {name}[{max(len(flat), 1)}] SHARNN_WEIGHTS = {{\n    {body or '0'}\n}};\n"


def _cell_tensors(mf: ModelFile, prefix: str) -> dict[str, np.ndarray]:
    t = mf.tensors
    return {"w_ih": t[f"{prefix}.rnn.weight_ih_l0"], "w_hh": t[f"{prefix}.rnn.weight_hh_l0"],
            "b_ih": t[f"{prefix}.rnn.bias_ih_l0"], "b_hh": t[f"{prefix}.rnn.bias_hh_l0"]}


class _Arrays:
    """The const arrays of one generated file and their flash bytes."""

    def __init__(self):
        self.sources: list[str] = []
        self.bytes = 0

    def add(self, name: str, arr, ctype: str = "float") -> str:
        self.sources.append(c_array(name, arr, ctype))
        self.bytes += {"float": 4, "int16_t": 2, "int32_t": 4}[ctype] * max(int(np.asarray(arr).size), 1)
        return name


def _model_shape(cfg: dict) -> tuple[int, list[str], int]:
    family = cfg.get("family")
    if family not in ("sharnn", "rnn"):
        raise WorkbenchError(f"the C exporter does not know model family {family!r}")
    levels = 2 if family == "sharnn" else 1
    prefixes = ["cell1", "cell2"] if levels == 2 else ["cell"]
    return levels, prefixes, (cfg["k"] if levels == 2 else cfg["window"])


def _float_source(mf: ModelFile, arrays: _Arrays) -> tuple[str, dict]:
    cfg = mf.config
    for c in cfg["cells"]:
        if c not in CELL_KIND:
            raise WorkbenchError(f"the float C kernel has no {c!r} cell yet (has: {', '.join(CELL_KIND)})")
    levels, prefixes, k = _model_shape(cfg)
    cells_c = []
    arrays.add("in_mean", mf.tensors["norm.mean"])
    arrays.add("in_inv_std", mf.tensors["norm.inv_std"])
    for lvl, prefix in enumerate(prefixes):
        names = {key: arrays.add(f"l{lvl}_{key}", val) for key, val in _cell_tensors(mf, prefix).items()}
        in_dim = cfg["input_dim"] if lvl == 0 else cfg["hidden"][0]
        cells_c.append(
            f"    {{ .kind = {CELL_KIND[cfg['cells'][lvl]]}, .input_dim = {in_dim}, "
            f".hidden_dim = {cfg['hidden'][lvl]},\n"
            f"      .w_ih = {names['w_ih']}, .w_hh = {names['w_hh']}, .b_ih = {names['b_ih']}, "
            f".b_hh = {names['b_hh']} }}")
    arrays.add("fc_w", mf.tensors["fc.weight"])
    arrays.add("fc_b", mf.tensors["fc.bias"])
    if levels == 1:
        cells_c.append("    { 0 }")
    net = ("const sharnn_f32_model_t wb_net = {\n"
           f"    .window = {cfg['window']}, .input_dim = {cfg['input_dim']}, .k = {k}, "
           f".num_classes = {cfg['num_classes']}, .levels = {levels},\n"
           "    .in_mean = in_mean, .in_inv_std = in_inv_std,\n"
           "    .cell = {\n" + ",\n".join(cells_c) + "\n    },\n"
           "    .fc_w = fc_w, .fc_b = fc_b,\n};\n")
    s_len = scratch_len({**cfg, "cells": cfg["cells"][:levels], "hidden": cfg["hidden"][:levels]})
    st_len = (cfg["window"] // k) * cfg["hidden"][0] if levels == 2 else 0
    return net, {"scratch_len": s_len, "stream_len": st_len, "device_input_dim": cfg["input_dim"],
                 "in_bytes": 4, "out_bytes": 4, "in_dtype": "f32", "out_dtype": "f32", "defines": {}}


def interleave_blocks(w: np.ndarray, blocks: list[list[int]]) -> np.ndarray:
    """Rows of w[rows, cols (even)] in the kernel's block layout: for block b, pair p, row r of the
    block: (w[row, 2p], w[row, 2p+1]). A row index < 0 is a zero (padding) row."""
    w = np.asarray(w)
    rows_per_block, pairs = len(blocks[0]), w.shape[1] // 2
    out = np.zeros((len(blocks), pairs, rows_per_block, 2), dtype=np.int64)
    for b, rows in enumerate(blocks):
        for r, row in enumerate(rows):
            if row >= 0:
                out[b, :, r, :] = w[row].reshape(pairs, 2)
    return out.ravel()


def block_vector(v: np.ndarray, blocks: list[list[int]]) -> np.ndarray:
    return np.array([v[r] if r >= 0 else 0 for rows in blocks for r in rows], dtype=np.int64)


def _even(n: int) -> int:
    return n + n % 2


def _block4(n: int) -> list[list[int]]:
    return [[r if r < n else -1 for r in range(b, b + 4)] for b in range(0, n, 4)]


def _mat_arrays(arrays: _Arrays, name: str, mat, blocks) -> tuple[str, np.ndarray]:
    """A MatQ's interleaved weights, and its per-block biases with the rounding constant folded in."""
    w = arrays.add(name, interleave_blocks(mat.w, blocks), "int16_t")
    return w, block_vector(mat.b + ((1 << mat.shift) >> 1), blocks).reshape(len(blocks), -1)


def _durnn_source(arrays: _Arrays, lvl: int, cell) -> tuple[str, str]:
    """(the module table's C source, its name) for a DuRNN cell."""
    mods = []
    for m, d in enumerate(cell.modules):
        p = f"l{lvl}_m{m}"
        sb, lb = _block4(d.short_dim), _block4(d.hidden_dim)
        w_sx, b_sx = _mat_arrays(arrays, f"{p}_w_sx", d.sx, sb)
        u_ss, b_ss = _mat_arrays(arrays, f"{p}_u_ss", d.ss, sb)
        w_gx, b_gx = _mat_arrays(arrays, f"{p}_w_gx", d.gx, sb)
        w_gs, b_gs = _mat_arrays(arrays, f"{p}_w_gs", d.gs, sb)
        w_ls, b_ls = _mat_arrays(arrays, f"{p}_w_ls", d.ls, lb)
        b_s = arrays.add(f"{p}_b_s", np.concatenate([b_sx, b_ss], axis=1), "int32_t")
        b_g = arrays.add(f"{p}_b_g", np.concatenate([b_gx, b_gs], axis=1), "int32_t")
        b_l = arrays.add(f"{p}_b_l", b_ls, "int32_t")
        u = arrays.add(f"{p}_u", d.u, "int16_t")
        mods.append(
            f"    {{ .input_dim = {d.sx.w.shape[1]}, .short_dim = {d.short_dim}, .hidden_dim = {d.hidden_dim}, "
            f".shift_sx = {d.sx.shift}, .shift_ss = {d.ss.shift}, .shift_gx = {d.gx.shift}, "
            f".shift_gs = {d.gs.shift}, .shift_l = {d.ls.shift}, .q_l = {d.q_l}, .relu = {int(d.relu)},\n"
            f"      .w_sx = {w_sx}, .u_ss = {u_ss}, .w_gx = {w_gx}, .w_gs = {w_gs}, .w_ls = {w_ls}, "
            f".b_s = {b_s}, .b_g = {b_g}, .b_l = {b_l}, .u = {u} }}")
    name = f"l{lvl}_modules"
    return (f"static const sharnn_q15_durnn_module_t {name}[{len(mods)}] = {{\n" + ",\n".join(mods) + "\n};\n",
            name)


def _q15_source(qm, arrays: _Arrays) -> tuple[str, dict]:
    cells_c, tables = [], []
    for lvl, cell in enumerate(qm.cells):
        spec = cell.spec
        if cell.kind == "durnn":
            table, name = _durnn_source(arrays, lvl, cell)
            tables.append(table)
            cells_c.append(f"    {{ .kind = {spec.kernel_kind}, .q_h = {cell.q_h}, .input_dim = "
                           f"{cell.input_dim + cell.input_dim % 2}, .hidden_dim = {cell.hidden_dim}, "
                           f".modules = {name}, .num_modules = {len(cell.modules)} }}")
            continue
        blocks = spec.unit_rows(cell.hidden_dim)
        # The kernel shifts the accumulators without adding 2^(shift-1): it is folded into the biases.
        bias = [block_vector(cell.b_x + ((1 << cell.shift_x) >> 1), blocks).reshape(len(blocks), -1)]
        w_h = "NULL"
        if cell.recurrent:
            padded = np.pad(cell.w_h, ((0, 0), (0, _even(cell.hidden_dim) - cell.w_h.shape[1])))
            w_h = arrays.add(f"l{lvl}_w_h", interleave_blocks(padded, blocks), "int16_t")
            bias.append(block_vector(cell.b_h + ((1 << cell.shift_h) >> 1), blocks).reshape(len(blocks), -1))
        w_x = arrays.add(f"l{lvl}_w_x", interleave_blocks(cell.w_x, blocks), "int16_t")
        b = arrays.add(f"l{lvl}_bias", np.concatenate(bias, axis=1), "int32_t")
        aux = arrays.add(f"l{lvl}_aux", cell.aux, "int32_t") if cell.aux is not None else "NULL"
        params = ", ".join(str(p) for p in cell.params) or "0"
        cells_c.append(
            f"    {{ .kind = {spec.kernel_kind}, .shift_x = {cell.shift_x}, .shift_h = {cell.shift_h}, "
            f".q_c = {cell.q_c or 0}, .q_h = {cell.q_h}, .input_dim = {cell.w_x.shape[1]}, "
            f".hidden_dim = {cell.hidden_dim},\n"
            f"      .w_x = {w_x}, .w_h = {w_h}, .bias = {b}, .aux = {aux}, .param = {{ {params} }} }}")
    if qm.levels == 1:
        cells_c.append("    { 0 }")
    fc_blocks = _block4(qm.num_classes)
    arrays.add("fc_w", interleave_blocks(qm.fc_w, fc_blocks), "int16_t")
    arrays.add("fc_b", block_vector(qm.fc_b, fc_blocks), "int32_t")
    c0 = qm.cells[0]
    per_level = [c.spec.state_len(c) for c in qm.cells]          # sharnn_q15_cell_state_len()
    st_len = (qm.window // qm.k) * _even(c0.hidden_dim) if qm.levels == 2 else 0
    net = ("".join(tables) + "\n/* Fixed-point plan: inputs Q" f"{qm.q_in}, logits Q{qm.q_out} (int32). */\n"
           "const sharnn_q15_model_t wb_net = {\n"
           f"    .window = {qm.window}, .input_dim = {qm.input_dim_padded}, .k = {qm.k}, "
           f".num_classes = {qm.num_classes}, .levels = {qm.levels},\n"
           "    .cell = {\n" + ",\n".join(cells_c) + "\n    },\n"
           "    .fc_w = fc_w, .fc_b = fc_b,\n};\n")
    return net, {"scratch_len": sum(per_level), "stream_len": st_len, "device_input_dim": qm.input_dim_padded,
                 "in_bytes": 2, "out_bytes": 4, "in_dtype": "i16", "out_dtype": "i32",
                 "defines": {"WB_MODEL_Q_IN": qm.q_in, "WB_MODEL_Q_OUT": qm.q_out}}


def _c_string(text: str) -> str:
    return '"' + str(text).replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ") + '"'


F32_INPUT = """
/* Raw sensor values -> the kernel's input: the float kernel normalises its input itself (wb_net's
 * in_mean and in_inv_std), so the raw values are its input. */
void wb_net_input(const float *raw, float *in, size_t steps)
{
    for (size_t i = 0; i < steps * WB_MODEL_INPUT_DIM; i++) {
        in[i] = raw[i];
    }
}
"""

Q15_INPUT = """
/* Raw sensor values -> the kernel's int16 input, exactly as the host's input quantizer
 * (workbench/quantize/plan.py, QuantModel.quantize_inputs):
 *   x_q = sat16(floor((x - mean) * inv_std * 2^WB_MODEL_Q_IN + 1/2)), the product in float32;
 * channels padded to an even count with zeros. Float only, no libm: the scaling by 2^q is exact, and
 * round half up is done on the integer and fraction parts. */
static const float wb_in_mean[WB_MODEL_RAW_INPUT_DIM] = { %(mean)s };
static const float wb_in_inv_std[WB_MODEL_RAW_INPUT_DIM] = { %(inv_std)s };

static int16_t wb_quantize_input(float xn)
{
    const float s = xn * %(scale)s;
    if (!(s < 32767.5f)) {
        return s != s ? (int16_t)-32768 : (int16_t)32767;      /* NaN as numpy's cast of it: the minimum */
    }
    if (s < -32768.5f) {
        return (int16_t)-32768;
    }
    int32_t t = (int32_t)s;                                      /* truncates toward zero ... */
    if ((float)t > s) {
        t -= 1;                                                  /* ... floor */
    }
    if (s - (float)t >= 0.5f) {                                  /* exact: s and t are close */
        t += 1;
    }
    return (int16_t)t;
}

void wb_net_input(const float *raw, int16_t *in, size_t steps)
{
    for (size_t t = 0; t < steps; t++) {
        for (size_t d = 0; d < WB_MODEL_RAW_INPUT_DIM; d++) {
            const float xn = (raw[t * WB_MODEL_RAW_INPUT_DIM + d] - wb_in_mean[d]) * wb_in_inv_std[d];
            in[t * WB_MODEL_INPUT_DIM + d] = wb_quantize_input(xn);
        }
        for (size_t d = WB_MODEL_RAW_INPUT_DIM; d < WB_MODEL_INPUT_DIM; d++) {
            in[t * WB_MODEL_INPUT_DIM + d] = 0;
        }
    }
}
"""


def _input_source(quant) -> str:
    if quant is None:
        return F32_INPUT
    return Q15_INPUT % {"mean": ", ".join(c_float(v) for v in quant.in_mean),
                        "inv_std": ", ".join(c_float(v) for v in quant.in_inv_std),
                        "scale": c_float(2.0 ** quant.q_in)}


def _api_header(scheme: str) -> str:
    """Declarations for an application that calls the kernel itself (the runner declares its own)."""
    if scheme == "f32":
        types = ("sharnn_f32_model_t", "float", "float", "float")
    else:
        types = ("sharnn_q15_model_t", "int16_t", "int32_t", "int16_t")
    return f"""
/* For an application of its own (firmware/sharnn/samples/classify shows every call):
 *   wb_net_scratch_t scratch[WB_MODEL_SCRATCH_LEN];   the kernel's working memory
 *   wb_net_scratch_t ring[WB_MODEL_STREAM_LEN];       streaming: the brick outputs in the window
 *   wb_net_input_t in[WB_MODEL_K * WB_MODEL_INPUT_DIM]; wb_net_output_t logits[WB_MODEL_NUM_CLASSES];
 * (int16 buffers 4-byte aligned), then wb_net_input(raw, in, WB_MODEL_K) and the sharnn.h calls
 * with &wb_net. */
#include <stddef.h>
#include "sharnn.h"

typedef {types[0]} wb_net_t;
typedef {types[1]} wb_net_input_t;     /* one input element */
typedef {types[2]} wb_net_output_t;    /* one logit */
typedef {types[3]} wb_net_scratch_t;   /* scratch and stream ring elements */

extern const wb_net_t wb_net;          /* wb_model_data.c */

/* raw[steps][WB_MODEL_RAW_INPUT_DIM] sensor values -> in[steps][WB_MODEL_INPUT_DIM], the kernel's input. */
void wb_net_input(const float *raw, wb_net_input_t *in, size_t steps);
"""


def export_c(mf: ModelFile, out_dir: str | Path, quant=None) -> ExportInfo:
    """Write the generated C for ``mf``: float32, or the int16 plan ``quant`` (a QuantModel of mf)."""
    cfg = mf.config
    levels, _, k = _model_shape(cfg)
    scheme = "f32" if quant is None else quant.scheme
    if quant is not None and quant.model_hash != mf.content_hash:
        raise WorkbenchError("the quantized model was planned for another model file")
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise io_error("create the export folder", out, exc) from None
    model_hash = mf.content_hash
    arrays = _Arrays()
    net, sizes = _float_source(mf, arrays) if quant is None else _q15_source(quant, arrays)
    data_c = (
        "/* Generated by workbench export from model " + model_hash[:16] + ". Do not edit. */\n"
        '#include "sharnn.h"\n#include "wb_model_config.h"\n\n'
        "#define SHARNN_WEIGHTS __attribute__((section(\".rodata.sharnn_weights\"), aligned(4)))\n\n"
        + "\n".join(arrays.sources) + "\n" + net + _input_source(quant)
    )
    hash_bytes = ", ".join(f"0x{b:02x}" for b in bytes.fromhex(model_hash[:16]))
    defines = dict(sizes["defines"])
    if levels == 2:
        # MACs per step of each level: a two-core firmware splits a window's bricks by them
        # (firmware/runner/wb_parallel.h). The counts follow from the config alone (no weights needed).
        from workbench.models.sharnn import build_model

        model = build_model(mf.config)
        defines["WB_MODEL_STEP_MACS_LOWER"] = f"{model.cell1.macs_per_step()}u"
        defines["WB_MODEL_STEP_MACS_UPPER"] = f"{model.cell2.macs_per_step()}u"
    extra = "".join(f"#define {name} {value}\n" for name, value in defines.items())
    class_names = mf.meta.get("class_names") or []
    names = (f"#define WB_MODEL_CLASS_NAMES {{ {', '.join(_c_string(n) for n in class_names)} }}\n"
             if len(class_names) == cfg["num_classes"] else "")
    config_h = f"""/* Generated by workbench export. Do not edit. */
#ifndef WB_MODEL_CONFIG_H
#define WB_MODEL_CONFIG_H

#define WB_MODEL_QUANT_{scheme.upper()} 1
#define WB_MODEL_WINDOW {cfg['window']}
#define WB_MODEL_INPUT_DIM {sizes['device_input_dim']}
#define WB_MODEL_RAW_INPUT_DIM {cfg['input_dim']}
#define WB_MODEL_K {k}
#define WB_MODEL_LEVELS {levels}
#define WB_MODEL_NUM_CLASSES {cfg['num_classes']}
#define WB_MODEL_SCRATCH_LEN {max(sizes['scratch_len'], 1)}
#define WB_MODEL_STREAM_LEN {max(sizes['stream_len'], 1)}
#define WB_MODEL_HASH_BYTES {{ {hash_bytes} }}
#define WB_MODEL_INPUT_BYTES {cfg['window'] * sizes['device_input_dim'] * sizes['in_bytes']}
#define WB_MODEL_OUTPUT_BYTES {cfg['num_classes'] * sizes['out_bytes']}
{extra}{names}{_api_header(scheme)}
#endif
"""
    write_if_changed(out / "wb_model_data.c", data_c, what="write the generated C")
    write_if_changed(out / "wb_model_config.h", config_h, what="write the generated C")
    info = ExportInfo(model_hash=model_hash, quantization=scheme, window=cfg["window"], input_dim=cfg["input_dim"],
                      k=k, levels=levels, num_classes=cfg["num_classes"], input_dtype=sizes["in_dtype"],
                      output_dtype=sizes["out_dtype"], scratch_len=sizes["scratch_len"],
                      stream_len=sizes["stream_len"], weight_bytes=arrays.bytes,
                      parameters=int(sum(np.asarray(v).size for n, v in mf.tensors.items()
                                         if not n.startswith("norm."))),
                      directory=str(out), device_input_dim=sizes["device_input_dim"],
                      plan=quant.summary() if quant is not None else None)
    info.save(out / "export.json")
    return info

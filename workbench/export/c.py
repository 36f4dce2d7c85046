"""Model file (float) or quantized model (int16 plan) -> generated C for the sharnn kernel library.

Writes three files into the output folder:
- ``wb_model_data.c``: the weights as const arrays in section ``.rodata.sharnn_weights`` (linker
  scripts keep them in flash and report their size) and the ``wb_net`` descriptor;
- ``wb_model_config.h``: shapes, buffer sizes in elements, the model hash, the quantization;
- ``export.json``: what was exported, for the build and profile stages.

Floats are written as C99 hex literals, so the compiled constants equal the float32 bits. Float
matrices are written in the float kernel's layout (blocks of 8 rows, columns in chunks of four; see
sharnn.h), integer ones in the int16 kernel's (the rows of a block interleaved by column pairs).
Both take each cell's tensors as its int16 step splits them (``CellSpec.float_tensors`` of the torch
cell's effective weights), so the two kernels read one description of every cell.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from workbench.errors import WorkbenchError
from workbench.models.modelfile import ModelFile
from workbench.quantize.cells import CELL_SPECS, layer_weights

# The cells the C kernels run, float32 and int16 alike, with their sharnn_cell_kind_t numbers.
CELL_KIND = {kind: spec.kernel_kind for kind, spec in CELL_SPECS.items()}
DTYPE_CODE = {"f32": 0, "i16": 1, "i32": 2, "i8": 3}


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
        path.write_text(json.dumps(asdict(self), indent=1, sort_keys=True))

    @classmethod
    def load(cls, path: Path) -> "ExportInfo":
        return cls(**json.loads(Path(path).read_text()))


# Float kernel: gate rows per hidden unit over x (cells with a recurrent matrix have as many over h).
F32_ROWS = {"lstm": 4, "gru": 3, "fastgrnn": 1, "mingru": 2, "minlstm": 3}
F32_RECURRENT = ("lstm", "gru", "fastgrnn")


def _pad8(n: int) -> int:
    return -(-n // 8) * 8


def f32_level_len(kind: str, hidden: int, options: dict | None) -> tuple[int, int]:
    """(state floats, scratch floats) of one level's cell: mirror of sharnn_f32_cell_state_len() and
    sharnn_f32_cell_scratch_len() in firmware/sharnn/src/sharnn_f32.c."""
    options = options or {}
    layers = int(options.get("layers", 1))
    if kind == "durnn":
        short = int(options.get("short_size", hidden))
        return (layers * (_even(short) + _even(hidden)),
                _pad8(2 * short) + max(_pad8(short), _pad8(hidden)) + _even(short))
    rows = F32_ROWS[kind] * hidden
    state = _even(hidden) + (hidden if kind == "lstm" else 0)
    return layers * state, _pad8(rows) + (_pad8(rows) if kind in F32_RECURRENT else 0)


def scratch_len(config: dict) -> int:
    """Mirror of sharnn_f32_scratch_len(): xn, the state of every level, the largest cell scratch."""
    options = config.get("cell_options") or [{}] * len(config["cells"])
    lens = [f32_level_len(c, h, o) for c, h, o in zip(config["cells"], config["hidden"], options)]
    return _even(config["input_dim"]) + sum(s for s, _ in lens) + max([_pad8(config["num_classes"])]
                                                                       + [c for _, c in lens])


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


def f32_blocks(w: np.ndarray) -> np.ndarray:
    """w[rows, cols] in the float kernel's layout: rows padded to a multiple of 8 and columns to even
    with zeros; per block of 8 rows, chunks of four columns (the last of two when cols % 4 == 2), each
    chunk row by row."""
    w = np.asarray(w, dtype=np.float32)
    rows, cols = w.shape
    padded = np.zeros((_pad8(rows), _even(cols)), dtype=np.float32)
    padded[:rows, :cols] = w
    chunks = [padded[b:b + 8, c:c + 4].ravel() for b in range(0, len(padded), 8) for c in range(0, padded.shape[1], 4)]
    return np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.float32)


def _f32_matrix(arrays: _Arrays, name: str, w, b=None) -> tuple[str, str]:
    """A matrix in the block layout and its initial sums padded to its padded rows ("NULL" for none or
    all zero)."""
    w = np.asarray(w, dtype=np.float64)
    w_name = arrays.add(name, f32_blocks(w))
    if b is None or not np.any(b):
        return w_name, "NULL"
    return w_name, arrays.add(name.replace("_w", "_b", 1) if "_w" in name else name + "_b",
                              np.pad(np.asarray(b, dtype=np.float32), (0, _pad8(len(b)) - len(b))))


def _f32_durnn(arrays: _Arrays, p: str, w: dict, in_dim: int, hidden: int, relu: bool) -> tuple[str, str, int]:
    """(module table source, its name, modules) of a DuRNN cell in float."""
    mods = []
    for m in range(sum(1 for k in w if k.endswith(".W_sx"))):
        d = {k.split(".", 2)[2]: v for k, v in w.items() if k.startswith(f"stack.{m}.")}
        q = f"{p}_m{m}"
        w_x, b_x = _f32_matrix(arrays, f"{q}_w_x", np.concatenate([d["W_sx"], d["W_gx"]]),
                               np.concatenate([d["b_s"], d["b_g"]]))
        u_ss, _ = _f32_matrix(arrays, f"{q}_w_ss", d["U_ss"])
        w_gs, _ = _f32_matrix(arrays, f"{q}_w_gs", d["W_gs"])
        w_ls, b_l = _f32_matrix(arrays, f"{q}_w_ls", d["W_ls"], d["b_l"])
        u = arrays.add(f"{q}_u", d["u"])
        mods.append(f"    {{ .input_dim = {in_dim if m == 0 else hidden}, .short_dim = {len(d['b_s'])}, "
                    f".hidden_dim = {hidden}, .relu = {int(relu)},\n"
                    f"      .w_x = {w_x}, .b_x = {b_x}, .u_ss = {u_ss}, .w_gs = {w_gs}, .w_ls = {w_ls}, "
                    f".b_l = {b_l}, .u = {u} }}")
    name = f"{p}_modules"
    return (f"static const sharnn_f32_durnn_module_t {name}[{len(mods)}] = {{\n" + ",\n".join(mods) + "\n};\n",
            name, len(mods))


def _f32_cell(arrays: _Arrays, p: str, kind: str, w: dict, in_dim: int, hidden: int, options: dict
              ) -> tuple[str, str]:
    """(definitions, initializer) of one level's float cell: its tensors as CellSpec.float_tensors
    splits them; a minGRU/minLSTM stack's upper layers as cells of their own (``above``)."""
    head = f".kind = {CELL_KIND[kind]}, .input_dim = {in_dim}, .hidden_dim = {hidden}"
    if kind == "durnn":
        table, name, n = _f32_durnn(arrays, p, w, in_dim, hidden, options.get("long_activation", "relu") == "relu")
        return table, f"{{ {head}, .modules = {name}, .num_modules = {n} }}"
    spec = CELL_SPECS[kind]
    defs, above = "", "NULL"
    layers = layer_weights(w)
    for j in reversed(range(len(layers))):
        q = f"{p}_layer{j}" if len(layers) > 1 else p
        wx, wh, bx, bh = spec.float_tensors(layers[j])
        w_x, b_x = _f32_matrix(arrays, f"{q}_w_x", wx, bx)
        w_h, b_h = _f32_matrix(arrays, f"{q}_w_h", wh, bh) if wh is not None else ("NULL", "NULL")
        extra = ""
        if kind == "fastgrnn":
            aux = arrays.add(f"{q}_aux", np.concatenate([layers[j]["b_z"], layers[j]["b_h"]]))
            extra = f", .aux = {aux}, .param = {{ {c_float(layers[j]['zeta'])}, {c_float(layers[j]['nu'])} }}"
        body = (f"{{ .kind = {CELL_KIND[kind]}, .input_dim = {in_dim if j == 0 else hidden}, .hidden_dim = {hidden},\n"
                f"      .w_x = {w_x}, .b_x = {b_x}, .w_h = {w_h}, .b_h = {b_h}{extra}, .above = {above} }}")
        if j == 0:
            return defs, body
        defs += f"static const sharnn_f32_cell_t {q} = {body};\n"      # the top layer first
        above = f"&{q}"
    raise AssertionError("unreachable")


def _float_source(mf: ModelFile, arrays: _Arrays) -> tuple[str, dict]:
    from workbench.quantize.plan import cell_weights

    cfg = mf.config
    for c in cfg["cells"]:
        if c not in CELL_KIND:
            raise WorkbenchError(f"the float C kernel has no {c!r} cell (has: {', '.join(CELL_KIND)})")
    levels, _, k = _model_shape(cfg)
    options = [o or {} for o in (cfg.get("cell_options") or [{}] * levels)]
    weights = cell_weights(mf)
    defs, cells_c = [], []
    arrays.add("in_mean", mf.tensors["norm.mean"])
    arrays.add("in_inv_std", mf.tensors["norm.inv_std"])
    for lvl in range(levels):
        in_dim = cfg["input_dim"] if lvl == 0 else cfg["hidden"][0]
        d, init = _f32_cell(arrays, f"l{lvl}", cfg["cells"][lvl], weights[lvl], in_dim, cfg["hidden"][lvl],
                            options[lvl])
        defs.append(d)
        cells_c.append("    " + init)
    fc_w, fc_b = _f32_matrix(arrays, "fc_w", mf.tensors["fc.weight"], mf.tensors["fc.bias"])
    if levels == 1:
        cells_c.append("    { 0 }")
    net = ("".join(defs) + "\nconst sharnn_f32_model_t wb_net = {\n"
           f"    .window = {cfg['window']}, .input_dim = {cfg['input_dim']}, .k = {k}, "
           f".num_classes = {cfg['num_classes']}, .levels = {levels},\n"
           "    .in_mean = in_mean, .in_inv_std = in_inv_std,\n"
           "    .cell = {\n" + ",\n".join(cells_c) + "\n    },\n"
           f"    .fc_w = {fc_w}, .fc_b = {fc_b},\n}};\n")
    s_len = scratch_len({**cfg, "cells": cfg["cells"][:levels], "hidden": cfg["hidden"][:levels],
                         "cell_options": options})
    st_len = (cfg["window"] // k) * _even(cfg["hidden"][0]) if levels == 2 else 0
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


def _q15_cell(arrays: _Arrays, p: str, cell, above: str = "NULL") -> str:
    """The initializer of one int16 cell (not DuRNN) with its arrays named after ``p``."""
    spec = cell.spec
    blocks = spec.unit_rows(cell.hidden_dim)
    # The kernel shifts the accumulators without adding 2^(shift-1): it is folded into the biases.
    bias = [block_vector(cell.b_x + ((1 << cell.shift_x) >> 1), blocks).reshape(len(blocks), -1)]
    w_h = "NULL"
    if cell.recurrent:
        padded = np.pad(cell.w_h, ((0, 0), (0, _even(cell.hidden_dim) - cell.w_h.shape[1])))
        w_h = arrays.add(f"{p}_w_h", interleave_blocks(padded, blocks), "int16_t")
        bias.append(block_vector(cell.b_h + ((1 << cell.shift_h) >> 1), blocks).reshape(len(blocks), -1))
    w_x = arrays.add(f"{p}_w_x", interleave_blocks(cell.w_x, blocks), "int16_t")
    b = arrays.add(f"{p}_bias", np.concatenate(bias, axis=1), "int32_t")
    aux = arrays.add(f"{p}_aux", cell.aux, "int32_t") if cell.aux is not None else "NULL"
    params = ", ".join(str(v) for v in cell.params) or "0"
    return (f"{{ .kind = {spec.kernel_kind}, .shift_x = {cell.shift_x}, .shift_h = {cell.shift_h}, "
            f".q_c = {cell.q_c or 0}, .q_h = {cell.q_h}, .input_dim = {cell.w_x.shape[1]}, "
            f".hidden_dim = {cell.hidden_dim},\n"
            f"      .w_x = {w_x}, .w_h = {w_h}, .bias = {b}, .aux = {aux}, .param = {{ {params} }}, "
            f".above = {above} }}")


def _q15_stack(arrays: _Arrays, lvl: int, cell) -> tuple[str, str]:
    """(definitions of the layers above, the initializer of the bottom layer) of a level's cell."""
    layers = [cell]
    while layers[-1].above is not None:
        layers.append(layers[-1].above)
    if len(layers) == 1:
        return "", _q15_cell(arrays, f"l{lvl}", cell)
    defs, above = "", "NULL"
    for j in reversed(range(1, len(layers))):          # the top layer first: each names the one above it
        name = f"l{lvl}_layer{j}"
        defs += f"static const sharnn_q15_cell_t {name} = {_q15_cell(arrays, name, layers[j], above)};\n"
        above = f"&{name}"
    return defs, _q15_cell(arrays, f"l{lvl}_layer0", cell, above)


def _q15_source(qm, arrays: _Arrays) -> tuple[str, dict]:
    cells_c, tables = [], []
    for lvl, cell in enumerate(qm.cells):
        if cell.kind == "durnn":
            table, name = _durnn_source(arrays, lvl, cell)
            tables.append(table)
            cells_c.append(f"    {{ .kind = {cell.spec.kernel_kind}, .q_h = {cell.q_h}, .input_dim = "
                           f"{cell.input_dim + cell.input_dim % 2}, .hidden_dim = {cell.hidden_dim}, "
                           f".modules = {name}, .num_modules = {len(cell.modules)} }}")
            continue
        defs, init = _q15_stack(arrays, lvl, cell)
        tables.append(defs)
        cells_c.append("    " + init)
    if qm.levels == 1:
        cells_c.append("    { 0 }")
    fc_blocks = _block4(qm.num_classes)
    arrays.add("fc_w", interleave_blocks(qm.fc_w, fc_blocks), "int16_t")
    arrays.add("fc_b", block_vector(qm.fc_b, fc_blocks), "int32_t")
    c0 = qm.cells[0]
    per_level = [c.state_len() for c in qm.cells]                 # sharnn_q15_cell_state_len()
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


def export_c(mf: ModelFile, out_dir: str | Path, quant=None) -> ExportInfo:
    """Write the generated C for ``mf``: float32, or the int16 plan ``quant`` (a QuantModel of mf)."""
    cfg = mf.config
    levels, _, k = _model_shape(cfg)
    scheme = "f32" if quant is None else quant.scheme
    if quant is not None and quant.model_hash != mf.content_hash:
        raise WorkbenchError("the quantized model was planned for another model file")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model_hash = mf.content_hash
    arrays = _Arrays()
    net, sizes = _float_source(mf, arrays) if quant is None else _q15_source(quant, arrays)
    data_c = (
        "/* Generated by workbench export from model " + model_hash[:16] + ". Do not edit. */\n"
        '#include "sharnn.h"\n#include "wb_model_config.h"\n\n'
        "#define SHARNN_WEIGHTS __attribute__((section(\".rodata.sharnn_weights\"), aligned(4)))\n\n"
        + "\n".join(arrays.sources) + "\n" + net
    )
    hash_bytes = ", ".join(f"0x{b:02x}" for b in bytes.fromhex(model_hash[:16]))
    extra = "".join(f"#define {name} {value}\n" for name, value in sizes["defines"].items())
    config_h = f"""/* Generated by workbench export. Do not edit. */
#ifndef WB_MODEL_CONFIG_H
#define WB_MODEL_CONFIG_H

#define WB_MODEL_QUANT_{scheme.upper()} 1
#define WB_MODEL_WINDOW {cfg['window']}
#define WB_MODEL_INPUT_DIM {sizes['device_input_dim']}
#define WB_MODEL_K {k}
#define WB_MODEL_LEVELS {levels}
#define WB_MODEL_NUM_CLASSES {cfg['num_classes']}
#define WB_MODEL_SCRATCH_LEN {max(sizes['scratch_len'], 1)}
#define WB_MODEL_STREAM_LEN {max(sizes['stream_len'], 1)}
#define WB_MODEL_HASH_BYTES {{ {hash_bytes} }}
#define WB_MODEL_INPUT_BYTES {cfg['window'] * sizes['device_input_dim'] * sizes['in_bytes']}
#define WB_MODEL_OUTPUT_BYTES {cfg['num_classes'] * sizes['out_bytes']}
{extra}
#endif
"""
    (out / "wb_model_data.c").write_text(data_c)
    (out / "wb_model_config.h").write_text(config_h)
    info = ExportInfo(model_hash=model_hash, quantization=scheme, window=cfg["window"], input_dim=cfg["input_dim"],
                      k=k, levels=levels, num_classes=cfg["num_classes"], input_dtype=sizes["in_dtype"],
                      output_dtype=sizes["out_dtype"], scratch_len=sizes["scratch_len"],
                      stream_len=sizes["stream_len"], weight_bytes=arrays.bytes,
                      parameters=int(sum(np.asarray(v).size for n, v in mf.tensors.items() if not n.startswith("norm."))),
                      directory=str(out), device_input_dim=sizes["device_input_dim"],
                      plan=quant.summary() if quant is not None else None)
    info.save(out / "export.json")
    return info

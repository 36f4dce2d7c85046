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
from workbench.filesystem import io_error, write_if_changed
from workbench.models.families import check_kernel_cells
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
        write_if_changed(path, json.dumps(asdict(self), indent=1, sort_keys=True), what="write the export record")

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
    """The const arrays of one generated file (in order: a descriptor refers to them by index) and
    their flash bytes."""

    def __init__(self):
        self.sources: list[str] = []
        self.names: list[str] = []
        self.bytes = 0

    def add(self, name: str, arr, ctype: str = "float") -> str:
        self.sources.append(c_array(name, arr, ctype))
        self.names.append(name)
        self.bytes += {"float": 4, "int16_t": 2, "int32_t": 4}[ctype] * max(int(np.asarray(arr).size), 1)
        return name


@dataclass
class Struct:
    """One struct of the generated model, its fields in the order sharnn.h declares them. A value is an
    int, a float, a tuple of numbers (a member array), an array name (str, None for NULL), a list of
    Structs (a static array of them and its count, ``.x`` and ``.num_x``), a Ref (a pointer to a
    static Struct) or an Inline list (a member array of structs). ``name``: the static's name."""

    ctype: str
    fields: dict
    name: str = ""


@dataclass
class Ref:
    target: Struct | None


@dataclass
class Inline:
    items: list


def _c_value(v, defs: list[str]) -> str:
    if isinstance(v, Struct):
        return _c_struct(v, defs)
    if isinstance(v, Ref):
        if v.target is None:
            return "NULL"
        defs.append(f"static const {v.target.ctype} {v.target.name} = {_c_struct(v.target, defs)};\n")
        return "&" + v.target.name
    if isinstance(v, Inline):
        return "{\n        " + ",\n        ".join(_c_struct(i, defs) if i else "{ 0 }" for i in v.items) + "\n    }"
    if isinstance(v, tuple):
        return "{ " + ", ".join(_c_value(x, defs) for x in v) + " }"
    if isinstance(v, float):
        return c_float(v)
    return "NULL" if v is None else str(v)


def _c_struct(st: Struct, defs: list[str]) -> str:
    """The initializer of ``st``; the statics it points to are appended to ``defs`` first."""
    parts = []
    for key, v in st.fields.items():
        if isinstance(v, list) and not v:
            parts += [f".{key} = NULL", f".num_{key} = 0"]
        elif isinstance(v, list):
            name = f"{st.name}_{key}"
            defs.append(f"static const {v[0].ctype} {name}[{len(v)}] = {{\n    "
                        + ",\n    ".join(_c_struct(i, defs) for i in v) + "\n};\n")
            parts += [f".{key} = {name}", f".num_{key} = {len(v)}"]
        else:
            parts.append(f".{key} = {_c_value(v, defs)}")
    return "{ " + ", ".join(parts) + " }"


def c_source(net: Struct) -> str:
    """The C definitions of a model's structs: every static it points to, then ``wb_net``."""
    defs: list[str] = []
    body = _c_struct(net, defs)
    return "".join(defs) + f"\nconst {net.ctype} wb_net = {body};\n"


def descriptor(net: Struct, arrays: list[str]) -> list[int]:
    """The same structs as int32 words for the MicroPython native module's glue (wb_sharnn_c.c), which
    reads them back in sharnn.h's field order: numbers as they are (floats as their bits), an array as
    its index in ``arrays`` (-1: NULL), a list or an Inline as its count then its records, a Ref as 0,
    or 1 and its record."""
    index = {name: i for i, name in enumerate(arrays)}
    words: list[int] = []

    def put(v):
        if isinstance(v, Struct):
            for x in v.fields.values():
                put(x)
        elif isinstance(v, (list, Inline)):
            items = [i for i in (v.items if isinstance(v, Inline) else v) if i]
            words.append(len(items))
            for i in items:
                put(i)
        elif isinstance(v, Ref):
            words.append(int(v.target is not None))
            if v.target is not None:
                put(v.target)
        elif isinstance(v, tuple):
            for x in v:
                put(x)
        elif isinstance(v, float):
            words.append(int(np.array(v, dtype=np.float32).view(np.int32)))
        elif v is None or isinstance(v, str):
            words.append(-1 if v is None else index[v])
        else:
            words.append(int(v))

    put(net)
    return words


def _model_shape(cfg: dict) -> tuple[int, list[str], int]:
    family = cfg.get("family")
    if family not in ("sharnn", "rnn"):
        raise WorkbenchError(f"the C exporter does not know model family {family!r}")
    levels = 2 if family == "sharnn" else 1
    prefixes = ["cell1", "cell2"] if levels == 2 else ["cell"]
    return levels, prefixes, (cfg["k"] if levels == 2 else cfg["window"])


# ---------------------------------------------------------------------------------------- float32

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


def _f32_matrix(arrays: _Arrays, name: str, w, b=None) -> tuple[str, str | None]:
    """A matrix ``<p>_w<x>`` in the block layout, and its initial sums ``<p>_b<x>`` padded to its padded
    rows (None: no bias or an all-zero one)."""
    w_name = arrays.add(name, f32_blocks(np.asarray(w, dtype=np.float64)))
    if b is None or not np.any(b):
        return w_name, None
    b = np.asarray(b, dtype=np.float32)
    return w_name, arrays.add(name.replace("_w", "_b", 1), np.pad(b, (0, _pad8(len(b)) - len(b))))


def _f32_durnn(arrays: _Arrays, p: str, w: dict, in_dim: int, hidden: int, relu: bool) -> list[Struct]:
    mods = []
    for m in range(sum(1 for k in w if k.endswith(".W_sx"))):
        d = {k.split(".", 2)[2]: v for k, v in w.items() if k.startswith(f"stack.{m}.")}
        q = f"{p}_m{m}"
        w_x, b_x = _f32_matrix(arrays, f"{q}_w_x", np.concatenate([d["W_sx"], d["W_gx"]]),
                               np.concatenate([d["b_s"], d["b_g"]]))
        u_ss, _ = _f32_matrix(arrays, f"{q}_w_ss", d["U_ss"])
        w_gs, _ = _f32_matrix(arrays, f"{q}_w_gs", d["W_gs"])
        w_ls, b_l = _f32_matrix(arrays, f"{q}_w_ls", d["W_ls"], d["b_l"])
        mods.append(Struct("sharnn_f32_durnn_module_t", {
            "input_dim": in_dim if m == 0 else hidden, "short_dim": len(d["b_s"]), "hidden_dim": hidden,
            "relu": int(relu), "w_x": w_x, "b_x": b_x, "u_ss": u_ss, "w_gs": w_gs, "w_ls": w_ls, "b_l": b_l,
            "u": arrays.add(f"{q}_u", d["u"])}))
    return mods


def _f32_cell(arrays: _Arrays, p: str, kind: str, w: dict, in_dim: int, hidden: int, options: dict) -> Struct:
    """One level's float cell: its tensors as CellSpec.float_tensors splits them (the int16 plan's
    split); a minGRU/minLSTM stack's upper layers as cells of their own, chained by ``above``."""
    def cell(name, input_dim, w_x=None, b_x=None, w_h=None, b_h=None, aux=None, param=(0.0, 0.0), modules=(),
             above=None):
        return Struct("sharnn_f32_cell_t", {
            "kind": CELL_KIND[kind], "input_dim": input_dim, "hidden_dim": hidden, "w_x": w_x, "b_x": b_x,
            "w_h": w_h, "b_h": b_h, "aux": aux, "param": param, "modules": list(modules), "above": Ref(above)},
            name)

    if kind == "durnn":
        return cell(p, in_dim, modules=_f32_durnn(arrays, p, w, in_dim, hidden,
                                                  options.get("long_activation", "relu") == "relu"))
    spec, above = CELL_SPECS[kind], None
    layers = layer_weights(w)
    for j in reversed(range(len(layers))):            # the top layer first: each points to the one above
        q, lw = (f"{p}_layer{j}" if len(layers) > 1 else p), layers[j]
        wx, wh, bx, bh = spec.float_tensors(lw)
        w_x, b_x = _f32_matrix(arrays, f"{q}_w_x", wx, bx)
        w_h, b_h = _f32_matrix(arrays, f"{q}_w_h", wh, bh) if wh is not None else (None, None)
        extra = {}
        if kind == "fastgrnn":
            extra = {"aux": arrays.add(f"{q}_aux", np.concatenate([lw["b_z"], lw["b_h"]])),
                     "param": (float(lw["zeta"]), float(lw["nu"]))}
        above = cell(q, in_dim if j == 0 else hidden, w_x, b_x, w_h, b_h, above=above, **extra)
    return above


def float_model(mf: ModelFile, arrays: _Arrays) -> Struct:
    """The float model's structs (sharnn_f32_model_t), its arrays added to ``arrays``."""
    from workbench.quantize.plan import cell_weights

    cfg = mf.config
    check_kernel_cells(cfg["cells"], "f32")
    levels, _, k = _model_shape(cfg)
    options = [o or {} for o in (cfg.get("cell_options") or [{}] * levels)]
    weights = cell_weights(mf)
    in_mean = arrays.add("in_mean", mf.tensors["norm.mean"])
    in_inv_std = arrays.add("in_inv_std", mf.tensors["norm.inv_std"])
    cells = [_f32_cell(arrays, f"l{lvl}", cfg["cells"][lvl], weights[lvl],
                       cfg["input_dim"] if lvl == 0 else cfg["hidden"][0], cfg["hidden"][lvl], options[lvl])
             for lvl in range(levels)]
    fc_w, fc_b = _f32_matrix(arrays, "fc_w", mf.tensors["fc.weight"], mf.tensors["fc.bias"])
    return Struct("sharnn_f32_model_t", {
        "window": cfg["window"], "input_dim": cfg["input_dim"], "k": k, "num_classes": cfg["num_classes"],
        "levels": levels, "in_mean": in_mean, "in_inv_std": in_inv_std, "cell": Inline(cells + [None] * (2 - levels)),
        "fc_w": fc_w, "fc_b": fc_b})


def _float_sizes(cfg: dict) -> dict:
    levels, _, k = _model_shape(cfg)
    options = [o or {} for o in (cfg.get("cell_options") or [{}] * levels)]
    s_len = scratch_len({**cfg, "cells": cfg["cells"][:levels], "hidden": cfg["hidden"][:levels],
                         "cell_options": options})
    st_len = (cfg["window"] // k) * _even(cfg["hidden"][0]) if levels == 2 else 0
    return {"scratch_len": s_len, "stream_len": st_len, "device_input_dim": cfg["input_dim"],
            "in_bytes": 4, "out_bytes": 4, "in_dtype": "f32", "out_dtype": "f32", "defines": {}}


# ------------------------------------------------------------------------------------------ int16

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


def _q15_durnn(arrays: _Arrays, p: str, cell) -> list[Struct]:
    mods = []
    for m, d in enumerate(cell.modules):
        q = f"{p}_m{m}"
        sb, lb = _block4(d.short_dim), _block4(d.hidden_dim)
        w_sx, b_sx = _mat_arrays(arrays, f"{q}_w_sx", d.sx, sb)
        u_ss, b_ss = _mat_arrays(arrays, f"{q}_u_ss", d.ss, sb)
        w_gx, b_gx = _mat_arrays(arrays, f"{q}_w_gx", d.gx, sb)
        w_gs, b_gs = _mat_arrays(arrays, f"{q}_w_gs", d.gs, sb)
        w_ls, b_ls = _mat_arrays(arrays, f"{q}_w_ls", d.ls, lb)
        mods.append(Struct("sharnn_q15_durnn_module_t", {
            "input_dim": d.sx.w.shape[1], "short_dim": d.short_dim, "hidden_dim": d.hidden_dim,
            "shift_sx": d.sx.shift, "shift_ss": d.ss.shift, "shift_gx": d.gx.shift, "shift_gs": d.gs.shift,
            "shift_l": d.ls.shift, "q_l": d.q_l, "relu": int(d.relu), "w_sx": w_sx, "u_ss": u_ss, "w_gx": w_gx,
            "w_gs": w_gs, "w_ls": w_ls,
            "b_s": arrays.add(f"{q}_b_s", np.concatenate([b_sx, b_ss], axis=1), "int32_t"),
            "b_g": arrays.add(f"{q}_b_g", np.concatenate([b_gx, b_gs], axis=1), "int32_t"),
            "b_l": arrays.add(f"{q}_b_l", b_ls, "int32_t"), "u": arrays.add(f"{q}_u", d.u, "int16_t")}))
    return mods


def _q15_cell(arrays: _Arrays, p: str, cell) -> Struct:
    """One level's int16 cell (its stacked layers chained by ``above``), arrays named after ``p``."""
    def struct(name, c, w_x=None, w_h=None, bias=None, aux=None, param=(0, 0), modules=(), above=None):
        shifts = (c.shift_x, c.shift_h) if c.kind != "durnn" else (0, 0)        # a DuRNN's are per matrix
        return Struct("sharnn_q15_cell_t", {
            "kind": c.spec.kernel_kind, "shift_x": shifts[0], "shift_h": shifts[1], "q_c": c.q_c or 0,
            "q_h": c.q_h, "input_dim": c.input_dim + c.input_dim % 2, "hidden_dim": c.hidden_dim, "w_x": w_x,
            "w_h": w_h, "bias": bias, "aux": aux, "param": param, "modules": list(modules), "above": Ref(above)},
            name)

    if cell.kind == "durnn":
        return struct(p, cell, modules=_q15_durnn(arrays, p, cell))
    layers = [cell]
    while layers[-1].above is not None:
        layers.append(layers[-1].above)
    above = None
    for j in reversed(range(len(layers))):           # the top layer first: each points to the one above
        c, q = layers[j], (f"{p}_layer{j}" if len(layers) > 1 else p)
        blocks = c.spec.unit_rows(c.hidden_dim)
        # The kernel shifts the accumulators without adding 2^(shift-1): it is folded into the biases.
        bias = [block_vector(c.b_x + ((1 << c.shift_x) >> 1), blocks).reshape(len(blocks), -1)]
        w_h = None
        if c.recurrent:
            padded = np.pad(c.w_h, ((0, 0), (0, _even(c.hidden_dim) - c.w_h.shape[1])))
            w_h = arrays.add(f"{q}_w_h", interleave_blocks(padded, blocks), "int16_t")
            bias.append(block_vector(c.b_h + ((1 << c.shift_h) >> 1), blocks).reshape(len(blocks), -1))
        w_x = arrays.add(f"{q}_w_x", interleave_blocks(c.w_x, blocks), "int16_t")
        b = arrays.add(f"{q}_bias", np.concatenate(bias, axis=1), "int32_t")
        aux = arrays.add(f"{q}_aux", c.aux, "int32_t") if c.aux is not None else None
        above = struct(q, c, w_x, w_h, b, aux, tuple(int(v) for v in c.params) + (0,) * (2 - len(c.params)),
                       above=above)
    return above


def q15_model(qm, arrays: _Arrays) -> Struct:
    """The int16 model's structs (sharnn_q15_model_t), its arrays added to ``arrays``."""
    cells = [_q15_cell(arrays, f"l{lvl}", cell) for lvl, cell in enumerate(qm.cells)]
    fc_blocks = _block4(qm.num_classes)
    fc_w = arrays.add("fc_w", interleave_blocks(qm.fc_w, fc_blocks), "int16_t")
    fc_b = arrays.add("fc_b", block_vector(qm.fc_b, fc_blocks), "int32_t")
    return Struct("sharnn_q15_model_t", {
        "window": qm.window, "input_dim": qm.input_dim_padded, "k": qm.k, "num_classes": qm.num_classes,
        "levels": qm.levels, "cell": Inline(cells + [None] * (2 - qm.levels)), "fc_w": fc_w, "fc_b": fc_b})


def _q15_sizes(qm) -> dict:
    st_len = (qm.window // qm.k) * _even(qm.cells[0].hidden_dim) if qm.levels == 2 else 0
    return {"scratch_len": sum(c.state_len() for c in qm.cells),       # sharnn_q15_scratch_len()
            "stream_len": st_len, "device_input_dim": qm.input_dim_padded,
            "in_bytes": 2, "out_bytes": 4, "in_dtype": "i16", "out_dtype": "i32",
            "defines": {"WB_MODEL_Q_IN": qm.q_in, "WB_MODEL_Q_OUT": qm.q_out}}


def model_structs(mf: ModelFile, quant, arrays: _Arrays) -> tuple[Struct, dict]:
    """(the model's structs, its buffer sizes and I/O types): float32, or the int16 plan ``quant``."""
    if quant is None:
        return float_model(mf, arrays), _float_sizes(mf.config)
    return q15_model(quant, arrays), _q15_sizes(quant)


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
    net, sizes = model_structs(mf, quant, arrays)
    plan = (f"\n/* Fixed-point plan: inputs Q{quant.q_in}, logits Q{quant.q_out} (int32). */" if quant is not None
            else "")
    data_c = (
        "/* Generated by workbench export from model " + model_hash[:16] + ". Do not edit. */\n"
        '#include "sharnn.h"\n#include "wb_model_config.h"\n\n'
        "#define SHARNN_WEIGHTS __attribute__((section(\".rodata.sharnn_weights\"), aligned(4)))\n\n"
        + "\n".join(arrays.sources) + plan + "\n" + c_source(net) + _input_source(quant)
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

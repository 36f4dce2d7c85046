"""Model file -> the files a MicroPython board runs (``workbench export --target micropython``).

Writes into the output folder:
- ``wb_model.bin``: the model packed for MicroPython (format below): a JSON header and the weights as
  typed little-endian arrays (float32 for f32 models; int16 weights and int32 biases for integer
  models) in the C kernels' layouts, which the runtime reads straight into ``array.array`` objects;
  the header's ``natmod`` entry describes the model's structs to the native module (its descriptor,
  see ``c.descriptor``, and the arrays it names);
- ``wb_sharnn.py``: the runtime (firmware/micropython/wb_sharnn.py): ShaRNN and single-level RNN,
  full window and streaming, and the on-device loop ``workbench run`` drives through the REPL;
- ``wb_kern_py.py`` / ``wb_kern_viper.py``: the kernel arithmetic as plain bytecode and as
  viper/native machine code, both from firmware/micropython/wb_kern.py (same source, two emitters),
  for models the Python kernels run (LSTM and GRU cells; the native module runs every cell);
- ``export.json``: what was written (``MicroPythonExport``).

The build stage (workbench/build/micropython.py) turns the ``.py`` files into ``.mpy`` for a board's
architecture with mpy-cross and, given a MicroPython source tree, builds the C kernel as a native
module (``wb_sharnn_c.mpy``).

``wb_model.bin`` layout (little-endian):

    4 bytes  magic b"WBMP"
    2 bytes  format version (uint16)
    2 bytes  header length H (uint16)
    H bytes  header, UTF-8 JSON
    ...      zero padding to a multiple of 4, then the tensors, each at a 4-aligned offset
             (relative to that point) that the header's table gives as [typecode, offset, count]
"""

from __future__ import annotations

import json
import re
import struct
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from workbench.errors import WorkbenchError
from workbench.export import c as c_export
from workbench.models.families import MICROPYTHON_CELLS
from workbench.models.modelfile import ModelFile
from workbench.paths import firmware_dir

MAGIC = b"WBMP"
FORMAT_VERSION = 1
MODEL_FILE = "wb_model.bin"
RUNTIME = "wb_sharnn.py"
KERNEL_SOURCE = "wb_kern.py"
# Kernel builds, fastest first (the runtime picks the first one present when not told).
KERNELS = ("natmod", "viper", "py")
KERNEL_MODULE = {"natmod": "wb_sharnn_c", "viper": "wb_kern_viper", "py": "wb_kern_py"}
TYPECODE = {np.dtype("<f4"): "f", np.dtype("<i2"): "h", np.dtype("<i4"): "i", np.dtype("i1"): "b"}
TYPE_SIZE = {"f": 4, "h": 2, "i": 4, "b": 1, "H": 2, "B": 1}
NATMOD_QUANT = {"f32": 0, "q15": 1}             # the descriptor's first word (wb_sharnn_c.c)
# MicroPython heap costs of an array.array (32-bit port): the object (4 words) and its data, each
# rounded up to the 16-byte GC block.
GC_BLOCK = 16
ARRAY_OBJECT = 16


@dataclass
class MicroPythonExport:
    """What the build, deploy and run stages need to know about an exported MicroPython model."""

    model_hash: str
    quantization: str
    family: str
    window: int
    input_dim: int              # channels of a raw window
    device_input_dim: int       # channels of a device input window (int plans pad to even)
    k: int
    levels: int
    num_classes: int
    input_dtype: str            # array typecode of an input window
    output_dtype: str           # array typecode of the logits
    weight_bytes: int           # tensor bytes in wb_model.bin
    buffer_bytes: int           # state, scratch, ring and I/O arrays the runtime allocates at load
    heap_bytes: int             # weights + buffers as MicroPython heap blocks (see heap_cost)
    parameters: int             # trained parameters (the input normalisation not counted)
    kernels: list[str]
    directory: str
    files: dict[str, int] = field(default_factory=dict)     # file name -> bytes
    plan: dict | None = None    # the int plan's summary (Q formats, shifts), None for f32

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=1, sort_keys=True))

    @classmethod
    def load(cls, path: Path) -> "MicroPythonExport":
        return cls(**json.loads(Path(path).read_text()))


def heap_cost(nbytes: int) -> int:
    """Heap bytes one array.array of ``nbytes`` data takes on a 32-bit MicroPython port."""
    def blocks(n):
        return -(-n // GC_BLOCK) * GC_BLOCK
    return blocks(ARRAY_OBJECT) + blocks(max(nbytes, 1))


def pack_model(header: dict, tensors: list[tuple[str, np.ndarray]]) -> bytes:
    """The bytes of a wb_model.bin: ``header`` plus a table of ``tensors`` (name, little-endian array)."""
    table, chunks, offset = {}, [], 0
    for name, arr in tensors:
        arr = np.ascontiguousarray(arr).ravel()
        tc = TYPECODE.get(arr.dtype.newbyteorder("<") if arr.dtype.byteorder == ">" else arr.dtype)
        if tc is None:
            raise WorkbenchError(f"tensor {name}: dtype {arr.dtype} has no MicroPython array typecode")
        raw = arr.astype(arr.dtype.newbyteorder("<")).tobytes()
        table[name] = [tc, offset, int(arr.size)]
        pad = (-len(raw)) % 4
        chunks.append(raw + bytes(pad))
        offset += len(raw) + pad
    blob = json.dumps({**header, "tensors": table}, separators=(",", ":")).encode()
    if len(blob) > 0xFFFF:
        raise WorkbenchError("model header too large for the MicroPython model format")
    head = MAGIC + struct.pack("<HH", FORMAT_VERSION, len(blob)) + blob
    return head + bytes((-len(head)) % 4) + b"".join(chunks)


def unpack_model(data: bytes) -> tuple[dict, dict[str, np.ndarray]]:
    """Inverse of pack_model (host side: tests and checks)."""
    if data[:4] != MAGIC:
        raise WorkbenchError("not a workbench MicroPython model file")
    version, hlen = struct.unpack_from("<HH", data, 4)
    if version != FORMAT_VERSION:
        raise WorkbenchError(f"MicroPython model format {version}; this workbench reads {FORMAT_VERSION}")
    header = json.loads(data[8:8 + hlen])
    base = (8 + hlen + 3) & ~3
    dtypes = {v: k for k, v in TYPECODE.items()}
    tensors = {name: np.frombuffer(data, dtype=dtypes[tc], count=n, offset=base + off).copy()
               for name, (tc, off, n) in header["tensors"].items()}
    return header, tensors


def _kernel_tensors(mf: ModelFile, qm) -> tuple[list[int], list[tuple[str, np.ndarray]], dict]:
    """The model as the C exporter lays it out for the kernels (float blocks, or the int plan's
    interleaved blocks with the shift rounding folded into the biases): the native module's
    descriptor (the quantization, then ``c.descriptor``), the arrays (name, little-endian array) in
    the descriptor's order, and the kernel's buffer lengths."""
    class Collect(c_export._Arrays):
        def __init__(self):
            super().__init__()
            self.arrays: list[tuple[str, np.ndarray]] = []

        def add(self, name, arr, ctype="float"):
            dtype = {"int16_t": "<i2", "int32_t": "<i4", "float": "<f4"}[ctype]
            self.arrays.append((name, np.asarray(arr).astype(dtype).ravel()))
            return super().add(name, arr, ctype)

    arrays = Collect()
    net, sizes = c_export.model_structs(mf, qm, arrays)
    desc = [NATMOD_QUANT["f32" if qm is None else qm.scheme]] + c_export.descriptor(net, arrays.names)
    return desc, arrays.arrays, {"scratch_len": sizes["scratch_len"], "stream_len": sizes["stream_len"]}


def python_kernels_run(cfg: dict) -> bool:
    """The Python kernels (viper, bytecode) run LSTM and GRU cells without stacked layers; the native
    module runs every cell the C kernels have."""
    options = cfg.get("cell_options") or []
    return (all(c in MICROPYTHON_CELLS for c in cfg["cells"])
            and not any((o or {}).get("layers", 1) > 1 for o in options))


def buffer_sizes(header: dict, kernel: str) -> list[int]:
    """Bytes of each array the runtime allocates at load for ``kernel`` (mirror of
    wb_sharnn.Model.__init__ and open_model): the native module's scratch and brick ring, or the
    Python kernels' per-level states and gate sums, their ring and normalised input; then the ring's
    two counters, an input window and two logit vectors."""
    cells, fixed, act = header["cells"], header["quant"] != "f32", TYPE_SIZE[header["act"]]
    nb = header["window"] // header["k"]
    if kernel == "natmod":
        sizes = [header["natmod"]["scratch_len"] * act, max(header["natmod"]["stream_len"], 1) * act]
    else:
        sizes = []
        for kind, _, h, *_ in cells:
            if fixed:
                sizes += [_even(h) * 2] * (3 if kind == "lstm" else 2)
            else:
                sizes += [(_even(h) + (h if kind == "lstm" else 0)) * 4] + [_pad8(c_export.F32_ROWS[kind] * h) * 4] * 2
        sizes.append((nb * _even(cells[0][2]) if header["levels"] == 2 else 1) * act)
        if not fixed:
            sizes.append(_even(header["input_dim"]) * 4)
    sizes.append(4)
    sizes += [header["window"] * header["input_dim"] * TYPE_SIZE[header["in"]]]
    sizes += [header["num_classes"] * TYPE_SIZE[header["out"]]] * 2
    return sizes


def _even(n: int) -> int:
    return n + n % 2


def _pad8(n: int) -> int:
    return -(-n // 8) * 8


def kernel_sources() -> dict[str, str]:
    """The two Python builds of the kernel (see the header of firmware/micropython/wb_kern.py): viper
    keeps the ``#V`` lines, bytecode keeps the ``#B`` lines, loses the decorators and gets ptr16/ptr32
    as the identity."""
    src = (firmware_dir() / "micropython" / KERNEL_SOURCE).read_text()
    tag = re.compile(r"[ \t]*#([VB])[ \t]*$")

    def keep(mark: str) -> str:
        lines = []
        for line in src.splitlines(keepends=True):
            m = tag.search(line)
            if m is None:
                lines.append(line)
            elif m.group(1) == mark:
                lines.append(line[:m.start()] + "\n")
        return "".join(lines)

    viper = keep("V")
    plain = re.sub(r"(?m)^[ \t]*@micropython\.(native|viper)[ \t]*\n", "", keep("B"))
    if re.search(r"(?m)^[ \t]*@", plain):
        raise WorkbenchError(f"{KERNEL_SOURCE}: a decorator other than @micropython.native/viper")
    note = ("# Bytecode build of wb_kern.py (workbench export): decorators and #V lines removed.\n"
            "def ptr16(a):\n    return a\n\n\nptr32 = ptr16\n")
    return {"viper": viper, "py": note + plain}


def export_micropython(mf: ModelFile, out_dir: str | Path, quant=None, kernels: tuple[str, ...] = ("viper", "py")
                       ) -> MicroPythonExport:
    """Write the MicroPython files of ``mf``: float32, or the int16 plan ``quant`` (a QuantModel of mf)."""
    cfg = mf.config
    family = cfg.get("family")
    if family not in ("sharnn", "rnn"):
        raise WorkbenchError(f"the MicroPython exporter does not know model family {family!r}")
    for kname in kernels:
        if kname not in KERNELS:
            raise WorkbenchError(f"unknown MicroPython kernel {kname!r} (have: {', '.join(KERNELS)})")
    if quant is not None and quant.model_hash != mf.content_hash:
        raise WorkbenchError("the quantized model was planned for another model file")
    # The Python kernels are written when they can run the model; the native module always can.
    kernels = tuple(k for k in kernels if k == "natmod" or python_kernels_run(cfg))
    levels = 2 if family == "sharnn" else 1
    k = cfg["k"] if levels == 2 else cfg["window"]
    header = {"hash": mf.content_hash[:16], "family": family, "window": cfg["window"], "k": k, "levels": levels,
              "num_classes": cfg["num_classes"]}
    desc, tensors, lens = _kernel_tensors(mf, quant)
    header["natmod"] = {"desc": desc, "tensors": [name for name, _ in tensors], **lens}
    if quant is None:
        in_dims = [cfg["input_dim"], cfg["hidden"][0]]
        header.update({"quant": "f32", "input_dim": cfg["input_dim"], "in": "f", "out": "f", "act": "f", "acc": "f",
                       "cells": [[cfg["cells"][i], in_dims[i], cfg["hidden"][i]] for i in range(levels)]})
    else:
        from workbench.quantize.fixedpoint import table

        tensors += [(f"{name}_table", table(name).astype("<i2")) for name in ("tanh", "sigmoid")]
        cells = [[c.kind, c.input_dim + c.input_dim % 2, c.hidden_dim, c.shift_x, c.shift_h, int(c.q_c or 0)]
                 for c in quant.cells]
        header.update({"quant": quant.scheme, "input_dim": quant.input_dim_padded, "in": "h", "out": "i",
                       "act": "h", "acc": "i", "cells": cells, "q_in": quant.q_in, "q_out": quant.q_out})

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = {MODEL_FILE: pack_model(header, tensors),
             RUNTIME: (firmware_dir() / "micropython" / RUNTIME).read_bytes()}
    sources = kernel_sources()
    for kname in kernels:
        if kname != "natmod":
            files[KERNEL_MODULE[kname] + ".py"] = sources[kname].encode()
    for name, data in files.items():
        (out / name).write_bytes(data)
    weight_bytes = sum(a.nbytes for _, a in tensors)
    # The heap a load takes with the hungriest kernel the model may run with (the native module's
    # buffers, or the Python kernels' where they run it).
    sizes = max((buffer_sizes(header, kn) for kn in ("natmod", *(("py",) if python_kernels_run(cfg) else ()))),
                key=lambda v: sum(map(heap_cost, v)))
    info = MicroPythonExport(
        model_hash=mf.content_hash, quantization=header["quant"], family=family, window=cfg["window"],
        input_dim=cfg["input_dim"], device_input_dim=header["input_dim"], k=k, levels=levels,
        num_classes=cfg["num_classes"],
        input_dtype=header["in"], output_dtype=header["out"], weight_bytes=weight_bytes,
        buffer_bytes=sum(sizes), heap_bytes=sum(heap_cost(a.nbytes) for _, a in tensors) + sum(map(heap_cost, sizes)),
        parameters=int(sum(np.asarray(v).size for n, v in mf.tensors.items() if not n.startswith("norm."))),
        kernels=list(kernels), directory=str(out), files={n: len(d) for n, d in files.items()},
        plan=quant.summary() if quant is not None else None)
    info.save(out / "export.json")
    return info

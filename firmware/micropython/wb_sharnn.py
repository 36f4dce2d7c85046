# wb_sharnn: ShaRNN runtime for MicroPython, written by workbench (do not edit the copy on a board).
#
# Loads a packed model file (wb_model.bin: header + weights as typed arrays) and runs ShaRNN or a
# single-level RNN over a window, or streams it brick by brick (the brick outputs still inside the
# window are kept in a ring; a new brick costs one lower-cell run plus the upper level).
#
# The arithmetic lives in a kernel module with one interface and three builds:
#   wb_kern_py     plain Python (portable bytecode)
#   wb_kern_viper  the same functions under @micropython.viper / @micropython.native (machine code)
#   wb_sharnn_c    the sharnn C library as a native module (natmod .mpy; whole-window calls)
# This file only composes them, so every kernel gives the same answers for integer models.
#
# All memory is allocated once, when the model loads; infer/stream_push allocate nothing.
import array
import json

FORMAT = 1
KERNELS = ("natmod", "viper", "py")
MODULES = {"natmod": "wb_sharnn_c", "viper": "wb_kern_viper", "py": "wb_kern_py"}
CELL_GATES = {"lstm": 4, "gru": 3}
CELL_KIND = {"lstm": 1, "gru": 2}          # numbering of firmware/sharnn/include/sharnn.h
QUANT = {"f32": 0}
_SIZE = {"f": 4, "h": 2, "i": 4, "b": 1, "H": 2, "B": 1}


def zeros(tc, n):
    return array.array(tc, bytearray(n * _SIZE[tc]))


def kernel_module(name=None):
    """The named kernel module, or the fastest one present on this device."""
    for n in ((name,) if name else KERNELS):
        try:
            return n, __import__(MODULES[n])
        except ImportError:
            if name:
                raise
    raise ImportError("no wb_sharnn kernel module on this device")


def read_header(f):
    head = f.read(8)
    if len(head) < 8 or head[:4] != b"WBMP":
        raise ValueError("not a workbench MicroPython model file")
    ver = head[4] | (head[5] << 8)
    if ver != FORMAT:
        raise ValueError("model file format %d; this runtime reads %d" % (ver, FORMAT))
    hlen = head[6] | (head[7] << 8)
    h = json.loads(f.read(hlen))
    h["_base"] = (8 + hlen + 3) & ~3
    return h


class Model:
    def __init__(self, path="wb_model.bin", kernel=None):
        with open(path, "rb") as f:
            h = read_header(f)
            t = {}
            for name in h["tensors"]:
                tc, off, n = h["tensors"][name]
                a = zeros(tc, n)
                f.seek(h["_base"] + off)
                if f.readinto(a) != n * _SIZE[tc]:
                    raise ValueError("model file truncated at tensor " + name)
                t[name] = a
        self.header = h
        self.hash = h["hash"]
        self.quant = h["quant"]
        self.window, self.input_dim, self.k = h["window"], h["input_dim"], h["k"]
        self.levels, self.num_classes = h["levels"], h["num_classes"]
        self.kernel, K = kernel_module(kernel)
        self._K = K
        q = self.quant
        if self.kernel != "natmod":
            self._matvec = getattr(K, q + "_matvec")
            self._norm = getattr(K, q + "_normalize")
            self._update = {"lstm": getattr(K, q + "_lstm"), "gru": getattr(K, q + "_gru")}
        self.cells = []
        gmax, state = 0, []
        for lvl in range(self.levels):
            kind, idim, hdim = h["cells"][lvl]
            g = CELL_GATES[kind]
            p = "l%d_" % lvl
            self.cells.append((kind, idim, hdim, g * hdim, t[p + "w_ih"], t[p + "w_hh"], t[p + "b_ih"],
                               t[p + "b_hh"]))
            gmax = max(gmax, g * hdim)
            state.append(zeros(h["act"], 2 * hdim if kind == "lstm" else hdim))
        self.t = t
        self._xn = zeros(h["act"], self.input_dim)
        self._s = state
        self._gx = zeros(h["acc"], gmax)
        self._gh = zeros(h["acc"], gmax)
        self.num_bricks = self.window // self.k
        self._bricks = zeros(h["act"], self.num_bricks * self.cells[0][2] if self.levels == 2 else 1)
        self._ring = zeros("H", 2)            # bricks filled, ring index of the oldest brick
        self._c = None
        if self.kernel == "natmod":
            # The C kernel sees the same arrays through one descriptor (no copies).
            dims = array.array("H", [QUANT[q], self.window, self.input_dim, self.k, self.num_classes,
                                     self.levels])
            for lvl in range(2):
                c = self.cells[lvl] if lvl < self.levels else ("gru", 0, 0)
                dims.extend(array.array("H", [CELL_KIND[c[0]] if lvl < self.levels else 0, c[1], c[2]]))
            cell_t = []
            for lvl in range(2):
                cell_t.extend(self.cells[lvl][4:8] if lvl < self.levels else (None,) * 4)
            scratch = zeros(h["act"], K.scratch_len(dims))
            self._net = (dims, t["in_mean"], t["in_inv_std"]) + tuple(cell_t) + (t["fc_w"], t["fc_b"], scratch)
            self._c = K

    # -- one cell step: state <- cell(x[xo:xo+I], state) --------------------------------------------
    def _step(self, lvl, x, xo, st):
        kind, idim, hdim, rows, w_ih, w_hh, b_ih, b_hh = self.cells[lvl]
        gx, gh = self._gx, self._gh
        self._matvec(w_ih, b_ih, x, xo, rows, idim, gx)
        self._matvec(w_hh, b_hh, st, 0, rows, hdim, gh)
        self._update[kind](gx, gh, st, hdim)

    def _lower(self, x, xo, steps):
        """Lower cell over `steps` raw input steps from x[xo:], from a zero state (ends in _s[0])."""
        s1, xn, d = self._s[0], self._xn, self.input_dim
        for i in range(len(s1)):
            s1[i] = 0
        for t in range(steps):
            self._norm(x, xo + t * d, self.t["in_mean"], self.t["in_inv_std"], d, xn)
            self._step(0, xn, 0, s1)

    def _classify(self, h, out):
        self._matvec(self.t["fc_w"], self.t["fc_b"], h, 0, self.num_classes, len(self.t["fc_w"]) // self.num_classes,
                     out)

    def infer(self, x, out):
        """Full window: x holds window*input_dim inputs (step-major); logits into out."""
        if self._c is not None:
            self._c.infer(self._net, x, out)
            return out
        if self.levels == 1:
            self._lower(x, 0, self.window)
            self._classify(self._s[0], out)
            return out
        s1, s2 = self._s
        for i in range(len(s2)):
            s2[i] = 0
        step = self.k * self.input_dim
        for b in range(self.num_bricks):
            self._lower(x, b * step, self.k)
            self._step(1, s1, 0, s2)            # the brick's output is the lower cell's h
        self._classify(s2, out)
        return out

    def stream_reset(self):
        self._ring[0] = 0
        self._ring[1] = 0

    def stream_push(self, x, out):
        """Push the newest k steps; True (logits in out) once the window is full."""
        if self.levels != 2:
            raise ValueError("streaming needs a ShaRNN (two levels)")
        if self._c is not None:
            return bool(self._c.stream_push(self._net, self._ring, self._bricks, x, out))
        nb, h1 = self.num_bricks, self.cells[0][2]
        ring, bricks = self._ring, self._bricks
        self._lower(x, 0, self.k)
        filled, head = ring[0], ring[1]
        if filled == nb:
            slot = head                          # the new brick replaces the oldest
            ring[1] = (head + 1) % nb
        else:
            slot = (head + filled) % nb
            ring[0] = filled + 1
        s1, s2 = self._s
        o = slot * h1
        for i in range(h1):
            bricks[o + i] = s1[i]
        if ring[0] < nb:
            return False
        for i in range(len(s2)):
            s2[i] = 0
        head = ring[1]
        for b in range(nb):
            self._step(1, bricks, ((head + b) % nb) * h1, s2)
        self._classify(s2, out)
        return True


# -- the on-device run loop the host drives through the REPL (workbench run) -------------------------
_m = None


def open_model(path="wb_model.bin", kernel=None):
    """Load the model once; print its hash, kernel and the heap it took (gc.mem_alloc delta)."""
    global _m
    import gc
    _m = None
    gc.collect()
    before = gc.mem_alloc()
    m = Model(path, kernel)
    m._out = zeros(m.header["out"], m.num_classes)
    m._out2 = zeros(m.header["out"], m.num_classes)
    gc.collect()
    _m = m
    print("WBMODEL", m.hash, m.kernel, gc.mem_alloc() - before)


def run_windows(data, stream=1):
    """data: base64 of whole input windows. Per window one line: full-window microseconds, last
    streamed brick microseconds (-1 if not streamed), then the two logit vectors in hex."""
    import binascii
    import time
    m = _m
    raw = binascii.a2b_base64(data)
    tc = m.header["in"]
    n = m.window * m.input_dim * _SIZE[tc]
    step = m.k * m.input_dim
    for w in range(len(raw) // n):
        x = array.array(tc, raw[w * n:(w + 1) * n])
        t0 = time.ticks_us()
        m.infer(x, m._out)
        dt = time.ticks_diff(time.ticks_us(), t0)
        ds = -1
        if stream and m.levels == 2:
            m.stream_reset()
            xv = memoryview(x)
            for b in range(m.num_bricks):
                brick = xv[b * step:(b + 1) * step]
                t0 = time.ticks_us()
                m.stream_push(brick, m._out2)
                ds = time.ticks_diff(time.ticks_us(), t0)
        print("W", dt, ds, binascii.hexlify(m._out).decode(),
              binascii.hexlify(m._out2).decode() if ds >= 0 else "-")

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
# This file only composes them, so every kernel gives the same answers for integer models. The
# native module runs every cell family of the C kernels, the Python kernels LSTM and GRU.
#
# All memory is allocated once, when the model loads; infer/stream_push allocate nothing.
import array
import json

FORMAT = 1
KERNELS = ("natmod", "viper", "py")
MODULES = {"natmod": "wb_sharnn_c", "viper": "wb_kern_viper", "py": "wb_kern_py"}
CELL_GATES = {"lstm": 4, "gru": 3}
CELL_KIND = {"lstm": 1, "gru": 2}          # numbering of firmware/sharnn/include/sharnn.h
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


def _zero(a):
    for i in range(len(a)):
        a[i] = 0


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
        self.quant = q = h["quant"]
        self.window, self.input_dim, self.k = h["window"], h["input_dim"], h["k"]
        self.levels, self.num_classes = h["levels"], h["num_classes"]
        self.kernel, K = kernel_module(kernel)
        self.t = t
        fixed = q != "f32"
        self.num_bricks = self.window // self.k
        self._ring = zeros("H", 2)            # bricks filled, ring index of the oldest brick
        self._c = None
        if self.kernel == "natmod":
            # The C kernel sees the model through its descriptor and the arrays it names (no copies;
            # see wb_sharnn_c.c), and takes the scratch and ring lengths the library computes.
            n = h["natmod"]
            desc, arrays = array.array("i", n["desc"]), tuple(t[name] for name in n["tensors"])
            scratch, ring = K.lens(desc, arrays)
            self._net = (desc, arrays, zeros(h["act"], scratch))
            self._bricks = zeros(h["act"], max(ring, 1))
            self._c = K
            return
        # Python kernels. States hold H rounded up to even (a vector the next matrix reads has an
        # even length; the pad stays 0); a float LSTM's c follows its h.
        self.cells, self.states, self.steps = [], [], []
        for lvl in range(self.levels):
            c = h["cells"][lvl]
            kind, hdim = c[0], c[2]
            he = hdim + (hdim & 1)
            p = "l%d_" % lvl
            if fixed:
                # bias: [H][2][R] initial accumulators (x then h) with the shift rounding folded in.
                cell = (CELL_KIND[kind], t[p + "w_x"], t[p + "w_h"], t[p + "bias"], None, c[1], hdim)
                cell += tuple(c[3:6]) + (t["tanh_table"], t["sigmoid_table"])
                st = [zeros("h", he), zeros("h", he), zeros("h", he) if kind == "lstm" else None]
            else:
                # Matrices in the kernels' block layout (sharnn.h); a bias absent where it is zero.
                cell = (CELL_KIND[kind], t[p + "w_x"], t[p + "w_h"], t.get(p + "b_x"), t.get(p + "b_h"), c[1], hdim)
                g = (CELL_GATES[kind] * hdim + 7) & ~7
                st = [zeros("f", he + (hdim if kind == "lstm" else 0)), zeros("f", g), zeros("f", g)]
            self.cells.append(cell)
            self.states.append(st)
            self.steps.append(getattr(K, q + "_" + kind))
        top = h["cells"][-1][2]
        self.fc = (t["fc_w"], t.get("fc_b"), self.num_classes, top + (top & 1))
        self.brick_len = h["cells"][0][2] + (h["cells"][0][2] & 1)
        self._bricks = zeros(h["act"], self.num_bricks * self.brick_len if self.levels == 2 else 1)
        d = self.input_dim
        self._xn = zeros("f", d + (d & 1)) if not fixed else None
        self._classify = getattr(K, q + "_classify")
        self._norm = getattr(K, "f32_normalize") if not fixed else None
        self._swap = fixed

    def _step(self, lvl, x, xo):
        st = self.states[lvl]
        self.steps[lvl](self.cells[lvl], x, xo, st)
        if self._swap:
            st[0], st[1] = st[1], st[0]

    def _lower(self, x, xo, steps):
        """Lower cell over `steps` input steps from x[xo:], from a zero state (h ends in states[0][0])."""
        st, d = self.states[0], self.input_dim
        _zero(st[0])
        if st[2] is not None and self._swap:
            _zero(st[2])
        if self._norm is None:
            for t in range(steps):
                self._step(0, x, xo + t * d)
            return
        xn, mean, inv_std = self._xn, self.t["in_mean"], self.t["in_inv_std"]
        for t in range(steps):
            self._norm(x, xo + t * d, mean, inv_std, d, xn)
            self._step(0, xn, 0)

    def _upper_reset(self):
        st = self.states[1]
        _zero(st[0])
        if st[2] is not None and self._swap:
            _zero(st[2])

    def infer(self, x, out):
        """Full window: x holds window*input_dim inputs (step-major); logits into out."""
        if self._c is not None:
            self._c.infer(self._net, x, out)
            return out
        if self.levels == 1:
            self._lower(x, 0, self.window)
            self._classify(self.fc, self.states[0][0], out)
            return out
        self._upper_reset()
        step = self.k * self.input_dim
        for b in range(self.num_bricks):
            self._lower(x, b * step, self.k)
            self._step(1, self.states[0][0], 0)   # the brick's output is the lower cell's h
        self._classify(self.fc, self.states[1][0], out)
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
        nb, hb = self.num_bricks, self.brick_len
        ring, bricks = self._ring, self._bricks
        self._lower(x, 0, self.k)
        filled, head = ring[0], ring[1]
        if filled == nb:
            slot = head                          # the new brick replaces the oldest
            ring[1] = (head + 1) % nb
        else:
            slot = (head + filled) % nb
            ring[0] = filled + 1
        h1 = self.states[0][0]
        o = slot * hb
        for i in range(hb):
            bricks[o + i] = h1[i]
        if ring[0] < nb:
            return False
        self._upper_reset()
        head = ring[1]
        for b in range(nb):
            self._step(1, bricks, ((head + b) % nb) * hb)
        self._classify(self.fc, self.states[1][0], out)
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

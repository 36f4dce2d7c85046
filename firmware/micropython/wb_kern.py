# wb_kern: the arithmetic of the sharnn cells for MicroPython, written by workbench.
#
# One source, two builds (workbench export writes both):
#   wb_kern_viper  this file as it is: float kernels under @micropython.native, integer kernels
#                  under @micropython.viper (machine code for the board's architecture);
#   wb_kern_py     the same file with the decorator lines removed: portable bytecode.
# Same source, same operations in the same order: the builds differ only in the code emitter.
#
# Conventions follow firmware/sharnn: weights [rows][cols] row-major, gates in torch order
# (LSTM i, f, g, o; GRU r, z, n), LSTM state h then c. x is read from offset xo, so a window or a
# ring of bricks is used in place.
import math
import micropython


# ------------------------------------------------------------------------------------------ float32
# MicroPython floats are single precision on most boards and double on the unix port; arrays of
# typecode 'f' round every stored value to float32 either way.

@micropython.native
def f32_matvec(w, b, x, xo, rows, cols, y):
    # y[r] = (sum_j w[r][j] * x[xo + j]) + b[r], summed left to right as the C kernel does.
    o = 0
    for r in range(rows):
        acc = 0.0
        for j in range(cols):
            acc += w[o + j] * x[xo + j]
        y[r] = acc + b[r]
        o += cols


@micropython.native
def f32_normalize(x, xo, mean, inv_std, d, xn):
    for i in range(d):
        xn[i] = (x[xo + i] - mean[i]) * inv_std[i]


@micropython.native
def _sigmoid(v):
    # math.exp raises instead of overflowing: saturate where float32 already does.
    if v < -80.0:
        return 0.0
    return 1.0 / (1.0 + math.exp(-v))


@micropython.native
def f32_gru(gx, gh, h, hd):
    for j in range(hd):
        r = _sigmoid(gx[j] + gh[j])
        z = _sigmoid(gx[hd + j] + gh[hd + j])
        n = math.tanh(gx[2 * hd + j] + r * gh[2 * hd + j])
        h[j] = (1.0 - z) * n + z * h[j]


@micropython.native
def f32_lstm(gx, gh, s, hd):
    for j in range(hd):
        i = _sigmoid(gx[j] + gh[j])
        f = _sigmoid(gx[hd + j] + gh[hd + j])
        g = math.tanh(gx[2 * hd + j] + gh[2 * hd + j])
        o = _sigmoid(gx[3 * hd + j] + gh[3 * hd + j])
        c = f * s[hd + j] + i * g
        s[hd + j] = c
        s[j] = o * math.tanh(s[hd + j])

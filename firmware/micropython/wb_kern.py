# wb_kern: the arithmetic of the sharnn cells for MicroPython, written by workbench.
#
# One source, two builds (workbench export writes both):
#   wb_kern_viper  float kernels under @micropython.native, integer kernels under @micropython.viper
#                  (machine code for the board's architecture);
#   wb_kern_py     portable bytecode: the decorator lines removed, ptr16/ptr32 defined as the
#                  identity (a plain array is indexed directly).
# Lines ending in "#V" are kept in the viper build only, lines ending in "#B" in the bytecode build
# only: viper's ptr16 loads are unsigned (so int16 values are sign-extended by hand) and int32
# arrays are read as two halves (a ptr32 load is not sign-extended on 64-bit ports), where a plain
# array gives the signed value directly. Everything else is the same source, the same operations
# in the same order.
#
# Conventions follow firmware/sharnn (include/sharnn.h): gates in torch order (LSTM i, f, g, o;
# GRU r, z, n). A step is step(cell, x, xo, st): input x[xo:xo+I], state arrays st (float32:
# [state, gx, gh], the state updated in place, LSTM h then c; int16: [h, h_out, c], h_out written
# from h, the caller swaps them). cell = (kind, w_x, w_h, b_x, b_h, I, H, ...) as wb_sharnn builds it.
import math
import micropython


# ------------------------------------------------------------------------------------------ float32
# MicroPython floats are single precision on most boards and double on the unix port; arrays of
# typecode 'f' round every stored value to float32 either way.

@micropython.native
def f32_classify(fc, h, out):
    f32_matvec(fc[0], fc[1], h, 0, fc[2], fc[3], out)


@micropython.native
def f32_matvec(w, b, x, xo, rows, cols, y):
    # y[r] = b[r] + sum_j w[r][j] * x[xo + j] (b None: 0), columns left to right as the C kernel
    # chains them (here unfused), over the C kernel's layout (sharnn.h): blocks of 8 rows, the
    # columns (padded to even, the pad column zero) in chunks of four, the last of two when
    # cols % 4 == 2, each chunk row by row.
    ce = cols + (cols & 1)
    for r in range(rows):
        acc = 0.0 if b is None else b[r]
        o = (r >> 3) * 8 * ce
        k = r & 7
        for c0 in range(0, ce, 4):
            n = 4 if ce - c0 >= 4 else 2
            p = o + 8 * c0 + k * n
            for c in range(n):
                acc += w[p + c] * x[xo + c0 + c]
        y[r] = acc


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
def f32_gru(cell, x, xo, st):
    h, gx, gh, hd = st[0], st[1], st[2], cell[6]
    f32_matvec(cell[1], cell[3], x, xo, 3 * hd, cell[5], gx)
    f32_matvec(cell[2], cell[4], h, 0, 3 * hd, hd, gh)
    for j in range(hd):
        r = _sigmoid(gx[j] + gh[j])
        z = _sigmoid(gx[hd + j] + gh[hd + j])
        n = math.tanh(gx[2 * hd + j] + r * gh[2 * hd + j])
        h[j] = (1.0 - z) * n + z * h[j]


@micropython.native
def f32_lstm(cell, x, xo, st):
    # s: h (H rounded up to even) then c.
    s, gx, gh, hd = st[0], st[1], st[2], cell[6]
    ce = hd + (hd & 1)
    f32_matvec(cell[1], cell[3], x, xo, 4 * hd, cell[5], gx)
    f32_matvec(cell[2], cell[4], s, 0, 4 * hd, hd, gh)
    for j in range(hd):
        i = _sigmoid(gx[j] + gh[j])
        f = _sigmoid(gx[hd + j] + gh[hd + j])
        g = math.tanh(gx[2 * hd + j] + gh[2 * hd + j])
        o = _sigmoid(gx[3 * hd + j] + gh[3 * hd + j])
        c = f * s[ce + j] + i * g
        s[ce + j] = c
        s[j] = o * math.tanh(c)


# ------------------------------------------------------------------------------------------ int16
# The int16 plan of workbench/quantize (fixedpoint.py, cells.py): int16 weights in the interleaved
# block layout of sharnn.h (one block = one hidden unit's gate rows, interleaved by column pairs),
# int32 accumulators that the plan keeps inside int32, round-half-up shifts, Q16 gate
# pre-activations through the Q15 tanh/sigmoid tables with linear interpolation. Every product
# below fits a signed 32-bit machine word, so viper on a 32-bit board computes what numpy does.
# (A Q16 pre-activation handed to the activation helpers becomes a Python int; beyond 2^30, i.e.
# |x| > 16384.0, a 32-bit port would box it as a long int: still exact, but an allocation.)

@micropython.viper
def _sigmoid_q16(table, v: int) -> int:
    t = ptr16(table)
    s = v >> 31
    a = (v ^ s) - s
    if a > 1048575:
        a = 1048575                       # < 16.0 in Q16: the last knot pair saturates
    i = a >> 11
    t0 = int(t[i])
    y = t0 + (((int(t[i + 1]) - t0) * (a & 2047) + 1024) >> 11)
    return (y ^ s) + (s & 32769)          # sigmoid(-x) = 1 - sigmoid(x)


@micropython.viper
def _tanh_q16(table, v: int) -> int:
    t = ptr16(table)
    s = v >> 31
    a = (v ^ s) - s
    if a > 524287:
        a = 524287                        # < 8.0 in Q16
    i = a >> 10
    t0 = int(t[i])
    y = t0 + (((int(t[i + 1]) - t0) * (a & 1023) + 512) >> 10)
    return (y ^ s) - s                    # odd


@micropython.viper
def _bias(b, i: int) -> int:
    p = ptr16(b)  #V
    return int(p[2 * i]) | (((int(p[2 * i + 1]) ^ 0x8000) - 0x8000) << 16)  #V
    return int(b[i])  #B


@micropython.viper
def q15_step(cell, x, xo: int, st):
    # One step of an LSTM (kind 1: blocks of 4 rows i f g o) or GRU (kind 2: r z n) cell.
    rows = 4 if int(cell[0]) == 1 else 3
    wx = ptr16(cell[1])
    wh = ptr16(cell[2])
    b = ptr16(cell[3])  #V
    b = cell[3]  #B
    xv = ptr16(x)
    h = ptr16(st[0])
    ho = ptr16(st[1])
    nx = int(cell[5]) >> 1
    hd = int(cell[6])
    nh = (hd + 1) >> 1
    sx = int(cell[7])
    sh = int(cell[8])
    tt = cell[10]
    ts = cell[11]
    ow = 0
    oh = 0
    a3 = 0
    c3 = 0
    for j in range(hd):
        # Unit j's initial accumulators: R for x, then R for h (shift rounding already added).
        o = 2 * rows * j
        a0 = int(b[o])  #B
        a1 = int(b[o + 1])  #B
        a2 = int(b[o + 2])  #B
        c0 = int(b[o + rows])  #B
        c1 = int(b[o + rows + 1])  #B
        c2 = int(b[o + rows + 2])  #B
        o = 2 * o  #V
        a0 = int(b[o]) | (((int(b[o + 1]) ^ 0x8000) - 0x8000) << 16)  #V
        a1 = int(b[o + 2]) | (((int(b[o + 3]) ^ 0x8000) - 0x8000) << 16)  #V
        a2 = int(b[o + 4]) | (((int(b[o + 5]) ^ 0x8000) - 0x8000) << 16)  #V
        oc = o + 2 * rows  #V
        c0 = int(b[oc]) | (((int(b[oc + 1]) ^ 0x8000) - 0x8000) << 16)  #V
        c1 = int(b[oc + 2]) | (((int(b[oc + 3]) ^ 0x8000) - 0x8000) << 16)  #V
        c2 = int(b[oc + 4]) | (((int(b[oc + 5]) ^ 0x8000) - 0x8000) << 16)  #V
        if rows == 4:
            a3 = int(b[o + 3])  #B
            c3 = int(b[o + 7])  #B
            a3 = int(b[o + 6]) | (((int(b[o + 7]) ^ 0x8000) - 0x8000) << 16)  #V
            c3 = int(b[oc + 6]) | (((int(b[oc + 7]) ^ 0x8000) - 0x8000) << 16)  #V
        # Gate rows over x, then over h: pair p of row r at w[(p * rows + r) * 2 + {0, 1}].
        for half in range(2):
            v = xv
            i = xo
            n = nx
            w = wx
            ow_ = ow
            if half:
                v = h
                i = 0
                n = nh
                w = wh
                ow_ = oh
            s0 = 0
            s1 = 0
            s2 = 0
            s3 = 0
            for p in range(n):
                v0 = int(v[i])
                v1 = int(v[i + 1])
                v0 = (v0 ^ 0x8000) - 0x8000  #V
                v1 = (v1 ^ 0x8000) - 0x8000  #V
                w0 = int(w[ow_])
                w1 = int(w[ow_ + 1])
                w2 = int(w[ow_ + 2])
                w3 = int(w[ow_ + 3])
                w4 = int(w[ow_ + 4])
                w5 = int(w[ow_ + 5])
                w0 = (w0 ^ 0x8000) - 0x8000  #V
                w1 = (w1 ^ 0x8000) - 0x8000  #V
                w2 = (w2 ^ 0x8000) - 0x8000  #V
                w3 = (w3 ^ 0x8000) - 0x8000  #V
                w4 = (w4 ^ 0x8000) - 0x8000  #V
                w5 = (w5 ^ 0x8000) - 0x8000  #V
                s0 += w0 * v0 + w1 * v1
                s1 += w2 * v0 + w3 * v1
                s2 += w4 * v0 + w5 * v1
                if rows == 4:
                    w6 = int(w[ow_ + 6])
                    w7 = int(w[ow_ + 7])
                    w6 = (w6 ^ 0x8000) - 0x8000  #V
                    w7 = (w7 ^ 0x8000) - 0x8000  #V
                    s3 += w6 * v0 + w7 * v1
                ow_ += 2 * rows
                i += 2
            if half:
                c0 += s0
                c1 += s1
                c2 += s2
                c3 += s3
                oh = ow_
            else:
                a0 += s0
                a1 += s1
                a2 += s2
                a3 += s3
                ow = ow_
        hj = int(h[j])
        hj = (hj ^ 0x8000) - 0x8000  #V
        if rows == 3:
            # GRU: n = tanh(x_n + r * (W_hn h + b_hn)); h' = (1 - z) n + z h, 1 - z = 32768 - z.
            r = int(_sigmoid_q16(ts, (a0 >> sx) + (c0 >> sh)))
            z = int(_sigmoid_q16(ts, (a1 >> sx) + (c1 >> sh)))
            hn = c2 >> sh
            # (r * hn + 2^14) >> 15 without a 64-bit product: hn = hi * 2^16 + lo, lo in [0, 2^16).
            rhn = r * (hn >> 16) * 2 + ((r * (hn & 0xFFFF) + 16384) >> 15)
            n = int(_tanh_q16(tt, (a2 >> sx) + rhn))
            ho[j] = ((32768 - z) * n + z * hj + 16384) >> 15
        else:
            # LSTM: c' = sat16(round((f*c + round(i*g >> (15 - q_c))) >> 15)); h' = round(o * tanh(c') >> 15).
            cs = ptr16(st[2])
            qc = int(cell[9])
            gi = int(_sigmoid_q16(ts, (a0 >> sx) + (c0 >> sh)))
            gf = int(_sigmoid_q16(ts, (a1 >> sx) + (c1 >> sh)))
            gg = int(_tanh_q16(tt, (a2 >> sx) + (c2 >> sh)))
            go = int(_sigmoid_q16(ts, (a3 >> sx) + (c3 >> sh)))
            cj = int(cs[j])
            cj = (cj ^ 0x8000) - 0x8000  #V
            cj = (gf * cj + ((gi * gg + ((1 << (15 - qc)) >> 1)) >> (15 - qc)) + 16384) >> 15
            if cj > 32767:
                cj = 32767
            if cj < -32768:
                cj = -32768
            cs[j] = cj
            ho[j] = (go * int(_tanh_q16(tt, cj << (16 - qc))) + 16384) >> 15


q15_gru = q15_lstm = q15_step


@micropython.viper
def q15_classify(fc, h, out):
    # logits[r] = fc_b[r] + fc_w[r] . h: blocks of 4 rows interleaved by column pairs (as in a cell);
    # one row at a time, it runs once per window.
    w = ptr16(fc[0])
    y = ptr32(out)
    nc = int(fc[2])
    nh = int(fc[3]) >> 1
    hv = ptr16(h)
    for r in range(nc):
        acc = int(_bias(fc[1], r))
        ow = (r >> 2) * nh * 8 + (r & 3) * 2
        i = 0
        for p in range(nh):
            v0 = int(hv[i])
            v1 = int(hv[i + 1])
            w0 = int(w[ow])
            w1 = int(w[ow + 1])
            v0 = (v0 ^ 0x8000) - 0x8000  #V
            v1 = (v1 ^ 0x8000) - 0x8000  #V
            w0 = (w0 ^ 0x8000) - 0x8000  #V
            w1 = (w1 ^ 0x8000) - 0x8000  #V
            acc += w0 * v0 + w1 * v1
            ow += 8
            i += 2
        y[r] = acc

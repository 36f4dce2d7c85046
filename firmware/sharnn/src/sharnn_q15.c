/*
 * int16 cells and the ShaRNN composition (see sharnn.h for the fixed-point conventions).
 *
 * A cell step walks its blocks (the gate rows of one or a few hidden units); for each it runs the
 * block dot product over x and over h (two int32 accumulators per gate row: their scales differ),
 * brings both to Q16, applies the activations and writes those units' h — no per-gate buffer, so a
 * step needs nothing beyond the state buffer. DuRNN runs three such passes per module.
 * The activations are branch-free and no loop depends on the data, so every window of a model
 * executes the same instructions.
 * The composition mirrors sharnn_f32.c: full windows feed each brick to the upper cell as soon as
 * it is computed; streaming keeps a ring of brick outputs; both run the same operations, so a
 * stream's logits equal the full window's.
 */
/* The SMLAD path pins its accumulators and weights to r4-r11, r7 included, so this file is always
 * built without a frame pointer (r7 in Thumb), even under -O0 or -fno-omit-frame-pointer. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("omit-frame-pointer")
#endif

#include <string.h>

#include "sharnn.h"
#include "sharnn_ring.h"
#include "sharnn_q15_internal.h"

int sharnn_q15_uses_dsp(void) { return SHARNN_Q15_DSP; }

int16_t sharnn_tanh_q15(int32_t x) { return (int16_t)sharnn_tanh_q16(x); }
int16_t sharnn_sigmoid_q15(int32_t x) { return (int16_t)sharnn_sigmoid_q16(x); }

void sharnn_q15_matvec(const int16_t *w, const int16_t *v, uint32_t rows, uint32_t block_rows, uint32_t cols,
                       int32_t *acc)
{
    const uint32_t pairs = cols >> 1;
    int32_t *const end = acc + rows;
#if SHARNN_Q15_DSP
    if (block_rows == 4) {
        for (; acc < end; acc += 4) {
            w = sharnn_dot4_mem_dsp(w, v, pairs, acc);
        }
        return;
    }
    if (block_rows == 3 && pairs % 4u == 0u && pairs > 0u && rows > 0u) {
        sharnn_matvec3_quads_dsp(w, v, rows, pairs, acc);
        return;
    }
    if (block_rows == 3) {
        for (; acc < end; acc += 3) {
            w = sharnn_dot3_mem_dsp(w, v, pairs, acc);
        }
        return;
    }
#endif
    for (; acc < end; acc += block_rows) {
        w = sharnn_dot_block_portable(w, v, pairs, block_rows, acc);
    }
}

static uint32_t even(uint32_t n) { return n + (n & 1u); }

/* The Q16 pre-activation of a gate row from its two accumulators (the biases hold the rounding
 * constants of both shifts). */
#define PRE(ax, ah) (((ax) >> sx) + ((ah) >> sh))

/* LSTM, gates i f g o. c (Q q_c): c' = f*c + i*g, f*c in Q(15+q_c), i*g brought there from Q30;
 * h' = o * tanh(c') (tanh input c' << (16 - q_c) is Q16). */
static void lstm_step(const sharnn_q15_cell_t *c, const int16_t *x, const int16_t *h, int16_t *h_out, int16_t *cs)
{
    const uint32_t H = c->hidden_dim, px = c->input_dim >> 1, ph = even(H) >> 1;
    const uint32_t sx = c->shift_x, sh = c->shift_h, qc = c->q_c;
    const int32_t rc = (int32_t)((1u << (15u - qc)) >> 1);
    const int16_t *wx = c->w_x, *wh = c->w_h;
    const int32_t *b = c->bias;
    for (uint32_t j = 0; j < H; j++) {
        int32_t ax[4], ah[4];
        wx = sharnn_dot(wx, x, px, 4, &b, ax);
        wh = sharnn_dot(wh, h, ph, 4, &b, ah);
        const int32_t i = sharnn_sigmoid_q16(PRE(ax[0], ah[0]));
        const int32_t f = sharnn_sigmoid_q16(PRE(ax[1], ah[1]));
        const int32_t g = sharnn_tanh_q16(PRE(ax[2], ah[2]));
        const int32_t o = sharnn_sigmoid_q16(PRE(ax[3], ah[3]));
        const int32_t cj = sharnn_sat16((f * cs[j] + ((i * g + rc) >> (15u - qc)) + (1 << 14)) >> 15);
        cs[j] = (int16_t)cj;
        h_out[j] = (int16_t)((o * sharnn_tanh_q16(cj << (16u - qc)) + (1 << 14)) >> 15);
    }
}

/* GRU, gates r z n: n = tanh(x_n + r * (W_hn h + b_hn)); h' = (1 - z) n + z h with 1 - z = 32768 - z. */
static void gru_step(const sharnn_q15_cell_t *c, const int16_t *x, const int16_t *h, int16_t *h_out)
{
    const uint32_t H = c->hidden_dim, px = c->input_dim >> 1, ph = even(H) >> 1;
    const uint32_t sx = c->shift_x, sh = c->shift_h;
    const int16_t *wx = c->w_x, *wh = c->w_h;
    const int32_t *b = c->bias;
    for (uint32_t j = 0; j < H; j++) {
        int32_t ax[3], ah[3];
        wx = sharnn_dot(wx, x, px, 3, &b, ax);
        wh = sharnn_dot(wh, h, ph, 3, &b, ah);
        const int32_t r = sharnn_sigmoid_q16(PRE(ax[0], ah[0]));
        const int32_t z = sharnn_sigmoid_q16(PRE(ax[1], ah[1]));
        const int32_t rhn = (int32_t)(((int64_t)r * (ah[2] >> sh) + (1 << 14)) >> 15);
        const int32_t n = sharnn_tanh_q16((ax[2] >> sx) + rhn);
        h_out[j] = (int16_t)(((32768 - z) * n + z * h[j] + (1 << 14)) >> 15);
    }
}

/* FastGRNN, blocks of four units: a = W x + U h shared by z = sigmoid(a + b_z) and
 * h~ = tanh(a + b_h); h' = (zeta (1 - z) + nu) h~ + z h, h in Q(q_h <= 14): the coefficient is Q15 < 2,
 * its product with h~ (Q30, < 2^31) is brought to Q(15 + q_h) before z h is added. */
static void fastgrnn_step(const sharnn_q15_cell_t *c, const int16_t *x, const int16_t *h, int16_t *h_out)
{
    const uint32_t H = c->hidden_dim, px = c->input_dim >> 1, ph = even(H) >> 1;
    const uint32_t sx = c->shift_x, sh = c->shift_h, qs = 15u - c->q_h;
    const int32_t zeta = c->param[0], nu = c->param[1], rq = (int32_t)((1u << qs) >> 1);
    const int16_t *wx = c->w_x, *wh = c->w_h;
    const int32_t *b = c->bias, *b_z = c->aux, *b_h = c->aux + H;
    for (uint32_t j = 0; j < H; j += 4) {
        int32_t ax[4], ah[4];
        wx = sharnn_dot(wx, x, px, 4, &b, ax);
        wh = sharnn_dot(wh, h, ph, 4, &b, ah);
        for (uint32_t u = 0; u < 4 && j + u < H; u++) {
            const int32_t a = PRE(ax[u], ah[u]);
            const int32_t z = sharnn_sigmoid_q16(a + b_z[j + u]);
            const int32_t ht = sharnn_tanh_q16(a + b_h[j + u]);
            const int32_t coef = ((zeta * (32768 - z) + (1 << 14)) >> 15) + nu;
            h_out[j + u] = (int16_t)sharnn_sat16((((coef * ht + rq) >> qs) + z * h[j + u] + (1 << 14)) >> 15);
        }
    }
}

/* minGRU/minLSTM's g() of a Q16 pre-activation, in Q(q_h): v + 0.5 for v >= 0 (v clamped at 2^30 so
 * the sum cannot wrap), sigmoid(v) below. */
static inline int32_t g_q(int32_t v, uint32_t q_h)
{
    if (v >= 0) {
        const uint32_t s = 16u - q_h;
        v = v > (1 << 30) ? (1 << 30) : v;
        return sharnn_sat16((v + 32768 + (int32_t)((1u << s) >> 1)) >> s);
    }
    return (sharnn_sigmoid_q16(v) + (int32_t)((1u << (15u - q_h)) >> 1)) >> (15u - q_h);
}

/* minGRU, blocks of two units (z, h~, z, h~): gates from x only; h' = (1 - z) h + z h~. */
static void mingru_step(const sharnn_q15_cell_t *c, const int16_t *x, const int16_t *h, int16_t *h_out)
{
    const uint32_t H = c->hidden_dim, px = c->input_dim >> 1, sx = c->shift_x, qh = c->q_h;
    const int16_t *wx = c->w_x;
    const int32_t *b = c->bias;
    for (uint32_t j = 0; j < H; j += 2) {
        int32_t ax[4];
        wx = sharnn_dot(wx, x, px, 4, &b, ax);
        for (uint32_t u = 0; u < 2 && j + u < H; u++) {
            const int32_t z = sharnn_sigmoid_q16(ax[2 * u] >> sx);
            const int32_t ht = g_q(ax[2 * u + 1] >> sx, qh);
            h_out[j + u] = (int16_t)(((32768 - z) * h[j + u] + z * ht + (1 << 14)) >> 15);
        }
    }
}

/* minLSTM: f, i, h~ from x only; f' = f / (f + i) rounded half up (SDIV), i' = 1 - f'. */
static void minlstm_step(const sharnn_q15_cell_t *c, const int16_t *x, const int16_t *h, int16_t *h_out)
{
    const uint32_t H = c->hidden_dim, px = c->input_dim >> 1, sx = c->shift_x, qh = c->q_h;
    const int16_t *wx = c->w_x;
    const int32_t *b = c->bias;
    for (uint32_t j = 0; j < H; j++) {
        int32_t ax[3];
        wx = sharnn_dot(wx, x, px, 3, &b, ax);
        const int32_t f = sharnn_sigmoid_q16(ax[0] >> sx);
        const int32_t i = sharnn_sigmoid_q16(ax[1] >> sx);
        const int32_t fn = ((f << 15) + ((f + i) >> 1)) / (f + i);
        const int32_t ht = g_q(ax[2] >> sx, qh);
        h_out[j] = (int16_t)((fn * h[j] + (32768 - fn) * ht + (1 << 14)) >> 15);
    }
}

/* One DuRNN module: three passes (s', then g s', then l'), each over blocks of 4 units. */
static void durnn_module_step(const sharnn_q15_durnn_module_t *d, const int16_t *x, const int16_t *s_old,
                              int16_t *s_new, const int16_t *l_old, int16_t *l_new, int16_t *gs)
{
    const uint32_t S = d->short_dim, H = d->hidden_dim, px = d->input_dim >> 1, ps = even(S) >> 1;
    const uint32_t ql = d->q_l;
    const int32_t ru = (int32_t)((1u << (ql - 1u)) >> 1), rl = (int32_t)((1u << (16u - ql)) >> 1);
    const int16_t *w1 = d->w_sx, *w2 = d->u_ss;
    const int32_t *b = d->b_s;
    for (uint32_t j = 0; j < S; j += 4) {
        int32_t ax[4], as[4];
        w1 = sharnn_dot(w1, x, px, 4, &b, ax);
        w2 = sharnn_dot(w2, s_old, ps, 4, &b, as);
        for (uint32_t u = 0; u < 4 && j + u < S; u++) {
            s_new[j + u] = (int16_t)sharnn_tanh_q16((ax[u] >> d->shift_sx) + (as[u] >> d->shift_ss));
        }
    }
    w1 = d->w_gx;
    w2 = d->w_gs;
    b = d->b_g;
    for (uint32_t j = 0; j < S; j += 4) {
        int32_t ax[4], as[4];
        w1 = sharnn_dot(w1, x, px, 4, &b, ax);
        w2 = sharnn_dot(w2, s_new, ps, 4, &b, as);
        for (uint32_t u = 0; u < 4 && j + u < S; u++) {
            const int32_t g = sharnn_sigmoid_q16((ax[u] >> d->shift_gx) + (as[u] >> d->shift_gs));
            gs[j + u] = (int16_t)((g * s_new[j + u] + (1 << 14)) >> 15);
        }
    }
    w1 = d->w_ls;
    b = d->b_l;
    for (uint32_t j = 0; j < H; j += 4) {
        int32_t al[4];
        w1 = sharnn_dot(w1, gs, ps, 4, &b, al);
        for (uint32_t u = 0; u < 4 && j + u < H; u++) {
            /* u (Q15) * l (Q q_l) is Q(15 + q_l): brought to Q16 and added to the W_ls half. */
            const int32_t pre = (al[u] >> d->shift_l) + ((d->u[j + u] * l_old[j + u] + ru) >> (ql - 1u));
            l_new[j + u] = (int16_t)(d->relu ? sharnn_sat16(((pre > 0 ? pre : 0) + rl) >> (16u - ql))
                                             : (sharnn_tanh_q16(pre) + (int32_t)((1u << (15u - ql)) >> 1)) >> (15u - ql));
        }
    }
}

static uint32_t durnn_module_len(const sharnn_q15_durnn_module_t *d)
{
    return 3u * even(d->short_dim) + 2u * even(d->hidden_dim);
}

size_t sharnn_q15_cell_state_len(const sharnn_q15_cell_t *c)
{
    /* One test for LSTM, GRU and FastGRNN (kinds 1-3), the kinds with more to add up after it. */
    if (c->kind > SHARNN_CELL_FASTGRNN) {
        if (c->kind == SHARNN_CELL_DURNN) {
            size_t n = 0;
            for (uint32_t m = 0; m < c->num_modules; m++) {
                n += durnn_module_len(&c->modules[m]);
            }
            return n;
        }
        if (c->above != NULL) {
            return 2u * even(c->hidden_dim) + sharnn_q15_cell_state_len(c->above);
        }
    }
    return (c->kind == SHARNN_CELL_LSTM ? 3u : 2u) * even(c->hidden_dim);
}

/* The next layer of a minGRU/minLSTM stack: its state follows this layer's [h0 | h1]; its input is
 * this layer's new h. */
static const int16_t *stack_step(const sharnn_q15_cell_t *c, const int16_t *h, int16_t *state, uint32_t cur)
{
    return sharnn_q15_cell_step(c->above, h, state + 2u * even(c->hidden_dim), cur);
}

const int16_t *sharnn_q15_cell_step(const sharnn_q15_cell_t *c, const int16_t *x, int16_t *state, uint32_t cur)
{
    const uint32_t hp = even(c->hidden_dim);
    const int16_t *h = state + cur * hp;
    int16_t *h_out = state + (cur ^ 1u) * hp;

    switch (c->kind) {
    case SHARNN_CELL_LSTM:
        lstm_step(c, x, h, h_out, state + 2u * hp);
        break;
    case SHARNN_CELL_GRU:
        gru_step(c, x, h, h_out);
        break;
    case SHARNN_CELL_FASTGRNN:
        fastgrnn_step(c, x, h, h_out);
        break;
    case SHARNN_CELL_MINGRU:
        mingru_step(c, x, h, h_out);
        return c->above ? stack_step(c, h_out, state, cur) : h_out;
    case SHARNN_CELL_MINLSTM:
        minlstm_step(c, x, h, h_out);
        return c->above ? stack_step(c, h_out, state, cur) : h_out;
    case SHARNN_CELL_DURNN:
        for (uint32_t m = 0; m < c->num_modules; m++) {
            const sharnn_q15_durnn_module_t *d = &c->modules[m];
            const uint32_t sp = even(d->short_dim), lp = even(d->hidden_dim);
            int16_t *l_new = state + 2u * sp + (cur ^ 1u) * lp;
            durnn_module_step(d, x, state + cur * sp, state + (cur ^ 1u) * sp, state + 2u * sp + cur * lp, l_new,
                              state + 2u * sp + 2u * lp);
            state += durnn_module_len(d);
            x = l_new;           /* the next module's input */
        }
        return x;
    default:
        break;
    }
    return h_out;
}

/* ---------------------------------------------------------------- composition */

size_t sharnn_q15_scratch_len(const sharnn_q15_model_t *m)
{
    size_t n = 0;
    for (uint8_t l = 0; l < m->levels; l++) {
        n += sharnn_q15_cell_state_len(&m->cell[l]);
    }
    return n;
}

/* Cell `c` over `steps` input steps (stride `stride`) from a zero state in `buf`; returns its h. */
static const int16_t *run_cell(const sharnn_q15_cell_t *c, const int16_t *x, uint32_t steps, uint32_t stride,
                               int16_t *buf)
{
    const int16_t *h = buf;
    memset(buf, 0, sharnn_q15_cell_state_len(c) * sizeof(int16_t));
    for (uint32_t t = 0; t < steps; t++) {
        h = sharnn_q15_cell_step(c, x + (size_t)t * stride, buf, t & 1u);
    }
    return h;
}

static void classify(const sharnn_q15_model_t *m, const int16_t *h_top, int32_t *logits)
{
    const uint32_t pairs = even(m->cell[m->levels - 1].hidden_dim) >> 1;
    const int16_t *w = m->fc_w;
    const int32_t *b = m->fc_b;
    for (uint32_t r = 0; r < m->num_classes; r += 4) {
        int32_t acc[4];
        w = sharnn_dot(w, h_top, pairs, 4, &b, acc);
        for (uint32_t i = 0; i < 4 && r + i < m->num_classes; i++) {
            logits[r + i] = acc[i];
        }
    }
}

void sharnn_q15_infer(const sharnn_q15_model_t *m, const int16_t *x, int32_t *logits, int16_t *scratch)
{
    const sharnn_q15_cell_t *c0 = &m->cell[0], *c1 = &m->cell[1];
    if (m->levels == 1) {
        classify(m, run_cell(c0, x, m->window, m->input_dim, scratch), logits);
        return;
    }
    int16_t *upper = scratch + sharnn_q15_cell_state_len(c0);
    const int16_t *h2 = upper;
    memset(upper, 0, sharnn_q15_cell_state_len(c1) * sizeof(int16_t));
    for (uint32_t b = 0; b < (uint32_t)(m->window / m->k); b++) {
        const int16_t *h1 = run_cell(c0, x + (size_t)b * m->k * m->input_dim, m->k, m->input_dim, scratch);
        h2 = sharnn_q15_cell_step(c1, h1, upper, b & 1u);
    }
    classify(m, h2, logits);
}

size_t sharnn_q15_stream_len(const sharnn_q15_model_t *m)
{
    return (size_t)(m->window / m->k) * even(m->cell[0].hidden_dim);
}

void sharnn_q15_stream_init(sharnn_q15_stream_t *s, int16_t *bricks)
{
    s->bricks = bricks;
    s->filled = 0;
    s->head = 0;
}

int sharnn_q15_stream_push(const sharnn_q15_model_t *m, sharnn_q15_stream_t *s, const int16_t *x,
                           int32_t *logits, int16_t *scratch)
{
    const sharnn_q15_cell_t *c0 = &m->cell[0], *c1 = &m->cell[1];
    const uint32_t nb = m->window / m->k;
    const uint32_t h1 = even(c0->hidden_dim);

    const int16_t *brick = run_cell(c0, x, m->k, m->input_dim, scratch);
    const uint32_t slot = sharnn_ring_next_slot(&s->head, &s->filled, nb);
    memcpy(s->bricks + (size_t)slot * h1, brick, h1 * sizeof(int16_t));
    if (s->filled < nb) {
        return 0;
    }
    int16_t *upper = scratch + sharnn_q15_cell_state_len(c0);
    const int16_t *h2 = upper;
    memset(upper, 0, sharnn_q15_cell_state_len(c1) * sizeof(int16_t));
    for (uint32_t b = 0; b < nb; b++) {
        h2 = sharnn_q15_cell_step(c1, s->bricks + (size_t)((s->head + b) % nb) * h1, upper, b & 1u);
    }
    classify(m, h2, logits);
    return 1;
}

/* k-wise parallelism: the lower level's state at the start of scratch, the upper level's after it,
 * as in sharnn_q15_infer. */
void sharnn_q15_bricks(const sharnn_q15_model_t *m, const int16_t *x, uint32_t count, int16_t *out,
                       int16_t *scratch)
{
    const sharnn_q15_cell_t *c0 = &m->cell[0];
    const uint32_t h1 = even(c0->hidden_dim);

    for (uint32_t b = 0; b < count; b++) {
        const int16_t *h = run_cell(c0, x + (size_t)b * m->k * m->input_dim, m->k, m->input_dim, scratch);
        memcpy(out + (size_t)b * h1, h, h1 * sizeof(int16_t));
    }
}

void sharnn_q15_upper_step(const sharnn_q15_model_t *m, const int16_t *brick, uint32_t index, int32_t *logits,
                           int16_t *scratch)
{
    const sharnn_q15_cell_t *c1 = &m->cell[1];
    int16_t *upper = scratch + sharnn_q15_cell_state_len(&m->cell[0]);

    if (index == 0) {
        memset(upper, 0, sharnn_q15_cell_state_len(c1) * sizeof(int16_t));
    }
    const int16_t *h2 = sharnn_q15_cell_step(c1, brick, upper, index & 1u);
    if (index + 1u == (uint32_t)(m->window / m->k)) {
        classify(m, h2, logits);
    }
}

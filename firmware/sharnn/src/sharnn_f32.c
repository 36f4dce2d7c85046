/*
 * Float32 cells and the ShaRNN composition (see sharnn.h for the arithmetic and the weight layout).
 *
 * A cell step is one or two matrix-vector products into gate sums (gx over x, gh over h; rows in
 * torch order) and an element-wise pass over the hidden units. Full-window inference never stores
 * the brick outputs: bricks are independent, so each brick's output is fed to the upper cell as soon
 * as it is computed (O(H) memory). Streaming keeps the ring of brick outputs and reruns only the
 * upper level; both paths execute the same operations in the same order, so a stream's logits
 * equal the full window's bit for bit.
 */
/* The block loop's assembly takes ten core registers besides the FPU's: keep r7 free of a frame
 * pointer even under -O0 or -fno-omit-frame-pointer (as sharnn_q15.c does). */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("omit-frame-pointer")
#endif

#include <string.h>

#include "sharnn.h"
#include "sharnn_f32_internal.h"
#include "sharnn_ring.h"

static uint32_t even(uint32_t n) { return n + (n & 1u); }
static uint32_t pad8(uint32_t n) { return (n + 7u) & ~7u; }

/* The initial sums of a matrix without bias: the block loop loads them like a bias, stride 0. */
static const float zero_sums[8];

/* ------------------------------------------------------------------ the matrix-vector core */

#if SHARNN_F32_ASM
/* One chunk of four columns for the eight rows of a block: the four vector elements to s8-s11, the
 * chunk's weights of rows 0-3 to s16-s31 (row r's four at s16+4r), their 16 MACs, then rows 4-7.
 * Per row the columns are taken in order: the chain of sharnn.h. 3 loads + 32 VFMA per 32 MACs. */
#define SHARNN_F32_QUAD(A0, A1, A2, A3)                                                          \
    "vfma.f32 " A0 ", s16, s8\n\t"  "vfma.f32 " A1 ", s20, s8\n\t"                              \
    "vfma.f32 " A2 ", s24, s8\n\t"  "vfma.f32 " A3 ", s28, s8\n\t"                              \
    "vfma.f32 " A0 ", s17, s9\n\t"  "vfma.f32 " A1 ", s21, s9\n\t"                              \
    "vfma.f32 " A2 ", s25, s9\n\t"  "vfma.f32 " A3 ", s29, s9\n\t"                              \
    "vfma.f32 " A0 ", s18, s10\n\t" "vfma.f32 " A1 ", s22, s10\n\t"                             \
    "vfma.f32 " A2 ", s26, s10\n\t" "vfma.f32 " A3 ", s30, s10\n\t"                             \
    "vfma.f32 " A0 ", s19, s11\n\t" "vfma.f32 " A1 ", s23, s11\n\t"                             \
    "vfma.f32 " A2 ", s27, s11\n\t" "vfma.f32 " A3 ", s31, s11\n\t"

#define SHARNN_F32_CHUNK4                                                                        \
    "vldmia %[vp]!, {s8-s11}\n\t"                                                                \
    "vldmia %[w]!, {s16-s31}\n\t"                                                                \
    SHARNN_F32_QUAD("s0", "s1", "s2", "s3")                                                      \
    "vldmia %[w]!, {s16-s31}\n\t"                                                                \
    SHARNN_F32_QUAD("s4", "s5", "s6", "s7")

/* The last two columns (cols % 4 == 2): the pair of each of the eight rows at s16+2r. */
#define SHARNN_F32_CHUNK2                                                                        \
    "vldmia %[vp]!, {s8-s9}\n\t"                                                                 \
    "vldmia %[w]!, {s16-s31}\n\t"                                                                \
    "vfma.f32 s0, s16, s8\n\t" "vfma.f32 s1, s18, s8\n\t" "vfma.f32 s2, s20, s8\n\t"              \
    "vfma.f32 s3, s22, s8\n\t" "vfma.f32 s4, s24, s8\n\t" "vfma.f32 s5, s26, s8\n\t"              \
    "vfma.f32 s6, s28, s8\n\t" "vfma.f32 s7, s30, s8\n\t"                                        \
    "vfma.f32 s0, s17, s9\n\t" "vfma.f32 s1, s19, s9\n\t" "vfma.f32 s2, s21, s9\n\t"              \
    "vfma.f32 s3, s23, s9\n\t" "vfma.f32 s4, s25, s9\n\t" "vfma.f32 s5, s27, s9\n\t"              \
    "vfma.f32 s6, s29, s9\n\t" "vfma.f32 s7, s31, s9\n\t"
#endif

void sharnn_f32_matvec(const float *w, const float *v, const float *b, uint32_t rows, uint32_t cols, float *y)
{
    const uint32_t b_step = b != NULL ? 8u : 0u;
    const float *bp = b != NULL ? b : zero_sums;
    float *const y_end = y + pad8(rows);
    if (y == y_end) {
        return;
    }
#if SHARNN_F32_ASM
    /* A block: its eight sums to s0-s7 (one VLDM), passes of eight columns (two chunks) while they
     * last, then a chunk of four (cols bit 2) and one of two (cols bit 1), and one VSTM. LSLS by 30
     * moves bit 2 to the carry and bit 1 to the sign flag; VLDM and VFMA leave the flags alone. */
    const float *const v8_end = v + (cols & ~7u);
    const uint32_t b_bytes = 4u * b_step;
    const float *vp;
    uint32_t tmp;
    __asm volatile(
        "1:\n\t"
        "vldmia %[b], {s0-s7}\n\t"
        "add %[b], %[b], %[bb]\n\t"
        "mov %[vp], %[v]\n\t"
        "cmp %[vp], %[v8]\n\t"
        "beq 3f\n"
        "2:\n\t"
        SHARNN_F32_CHUNK4
        SHARNN_F32_CHUNK4
        "cmp %[vp], %[v8]\n\t"
        "bne 2b\n"
        "3:\n\t"
        "lsls %[t], %[cols], #30\n\t"
        "bcc 4f\n\t"
        SHARNN_F32_CHUNK4
        "4:\n\t"
        "bpl 5f\n\t"
        SHARNN_F32_CHUNK2
        "5:\n\t"
        "vstmia %[y]!, {s0-s7}\n\t"
        "cmp %[y], %[y_end]\n\t"
        "bne 1b\n"
        : [w] "+r"(w), [b] "+r"(bp), [y] "+r"(y), [vp] "=&r"(vp), [t] "=&r"(tmp)
        : [v] "r"(v), [v8] "r"(v8_end), [bb] "r"(b_bytes), [cols] "r"(cols), [y_end] "r"(y_end)
        : "s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9", "s10", "s11", "s16", "s17", "s18", "s19",
          "s20", "s21", "s22", "s23", "s24", "s25", "s26", "s27", "s28", "s29", "s30", "s31", "cc", "memory");
#else
    for (; y != y_end; y += 8, bp += b_step) {
        float acc[8];
        for (uint32_t r = 0; r < 8; r++) {
            acc[r] = bp[r];
        }
        for (uint32_t c0 = 0; c0 < cols; c0 += 4) {
            const uint32_t n = cols - c0 >= 4u ? 4u : 2u;      /* a chunk of four, the last maybe of two */
            for (uint32_t r = 0; r < 8; r++) {
                for (uint32_t c = 0; c < n; c++) {
                    acc[r] = sharnn_fma(w[r * n + c], v[c0 + c], acc[r]);
                }
            }
            w += 8u * n;
        }
        for (uint32_t r = 0; r < 8; r++) {
            y[r] = acc[r];
        }
    }
#endif
}

/* ------------------------------------------------------------------ cells */

float sharnn_sigmoidf(float x) { return sharnn_sigmoid(x); }
float sharnn_tanhf(float x) { return sharnn_tanh(x); }
float sharnn_fmaf(float a, float b, float c) { return sharnn_fma(a, b, c); }

/* Gate rows of a cell over x and over h (per hidden unit times H). */
static uint32_t rows_x(const sharnn_f32_cell_t *c)
{
    static const uint8_t per_unit[] = { 0, 4, 3, 1, 2, 3, 0 };
    return c->kind < sizeof per_unit ? per_unit[c->kind] * (uint32_t)c->hidden_dim : 0u;
}

static uint32_t rows_h(const sharnn_f32_cell_t *c)
{
    return c->w_h != NULL ? rows_x(c) : 0u;
}

/* The cell's own state, without the layers above it. */
static size_t own_state_len(const sharnn_f32_cell_t *c)
{
    if (c->kind == SHARNN_CELL_DURNN) {
        size_t n = 0;
        for (uint32_t m = 0; m < c->num_modules; m++) {
            n += even(c->modules[m].short_dim) + even(c->modules[m].hidden_dim);
        }
        return n;
    }
    return even(c->hidden_dim) + (c->kind == SHARNN_CELL_LSTM ? c->hidden_dim : 0u);
}

size_t sharnn_f32_cell_state_len(const sharnn_f32_cell_t *c)
{
    return own_state_len(c) + (c->above != NULL ? sharnn_f32_cell_state_len(c->above) : 0u);
}

static size_t max_size(size_t a, size_t b) { return a > b ? a : b; }

size_t sharnn_f32_cell_scratch_len(const sharnn_f32_cell_t *c)
{
    size_t n = 0;
    if (c->kind == SHARNN_CELL_DURNN) {
        /* gx [2S] | gh [S, then H] | g s' [S even] */
        for (uint32_t m = 0; m < c->num_modules; m++) {
            const sharnn_f32_durnn_module_t *d = &c->modules[m];
            n = max_size(n, pad8(2u * d->short_dim) + max_size(pad8(d->short_dim), pad8(d->hidden_dim)) +
                                even(d->short_dim));
        }
    } else {
        n = pad8(rows_x(c)) + pad8(rows_h(c));
    }
    return c->above != NULL ? max_size(n, sharnn_f32_cell_scratch_len(c->above)) : n;
}

/* minGRU/minLSTM's g(): v + 1/2 for v >= 0, sigmoid(v) below. */
SHARNN_F32_INLINE float min_g(float v)
{
    return v >= 0.0f ? v + 0.5f : sharnn_sigmoid(v);
}

/* The element-wise update of each cell from its gate sums gx (over x) and gh (over h), rows in
 * torch order. LSTM, gates i f g o: c' = fma(f, c, i g); h' = o tanh(c'). */
static void lstm_update(const sharnn_f32_cell_t *c, float *h, const float *gx, const float *gh)
{
    const uint32_t H = c->hidden_dim;
    float *cs = h + even(H);
    for (uint32_t j = 0; j < H; j++) {
        const float i = sharnn_sigmoid(gx[j] + gh[j]);
        const float f = sharnn_sigmoid(gx[H + j] + gh[H + j]);
        const float g = sharnn_tanh(gx[2u * H + j] + gh[2u * H + j]);
        const float o = sharnn_sigmoid(gx[3u * H + j] + gh[3u * H + j]);
        const float cj = sharnn_fma(f, cs[j], i * g);
        cs[j] = cj;
        h[j] = o * sharnn_tanh(cj);
    }
}

/* GRU, gates r z n: n = tanh(fma(r, W_hn h + b_hn, W_in x + b_in)); h' = n + z (h - n). */
static void gru_update(const sharnn_f32_cell_t *c, float *h, const float *gx, const float *gh)
{
    const uint32_t H = c->hidden_dim;
    for (uint32_t j = 0; j < H; j++) {
        const float r = sharnn_sigmoid(gx[j] + gh[j]);
        const float z = sharnn_sigmoid(gx[H + j] + gh[H + j]);
        const float n = sharnn_tanh(sharnn_fma(r, gh[2u * H + j], gx[2u * H + j]));
        h[j] = sharnn_fma(z, h[j] - n, n);
    }
}

/* FastGRNN: a = W x + U h; z = sigmoid(a + b_z); h~ = tanh(a + b_h); h' = fma(fma(zeta, 1 - z, nu), h~, z h). */
static void fastgrnn_update(const sharnn_f32_cell_t *c, float *h, const float *gx, const float *gh)
{
    const uint32_t H = c->hidden_dim;
    const float zeta = c->param[0], nu = c->param[1];
    const float *b_z = c->aux, *b_h = c->aux + H;
    for (uint32_t j = 0; j < H; j++) {
        const float a = gx[j] + gh[j];
        const float z = sharnn_sigmoid(a + b_z[j]);
        const float ht = sharnn_tanh(a + b_h[j]);
        h[j] = sharnn_fma(sharnn_fma(zeta, 1.0f - z, nu), ht, z * h[j]);
    }
}

/* minGRU: z = sigmoid(.), h~ = g(.) from x only; h' = h + z (h~ - h). */
static void mingru_update(const sharnn_f32_cell_t *c, float *h, const float *gx)
{
    const uint32_t H = c->hidden_dim;
    for (uint32_t j = 0; j < H; j++) {
        const float z = sharnn_sigmoid(gx[j]);
        const float ht = min_g(gx[H + j]);
        h[j] = sharnn_fma(z, ht - h[j], h[j]);
    }
}

/* minLSTM: f, i = sigmoid(.), h~ = g(.) from x only; h' = (f h + i h~) / (f + i). */
static void minlstm_update(const sharnn_f32_cell_t *c, float *h, const float *gx)
{
    const uint32_t H = c->hidden_dim;
    for (uint32_t j = 0; j < H; j++) {
        const float f = sharnn_sigmoid(gx[j]);
        const float i = sharnn_sigmoid(gx[H + j]);
        const float ht = min_g(gx[2u * H + j]);
        h[j] = sharnn_fma(f, h[j], i * ht) / (f + i);
    }
}

/* One DuRNN module (sharnn.h), its three products included: s and l updated in place; scratch
 * gx [2S] | gh | g s' [S even]. */
static void durnn_module_step(const sharnn_f32_durnn_module_t *d, const float *x, float *s, float *l, float *gx)
{
    const uint32_t S = d->short_dim, H = d->hidden_dim;
    float *gh = gx + pad8(2u * S);
    float *gs = gh + max_size(pad8(S), pad8(H));
    sharnn_f32_matvec(d->w_x, x, d->b_x, 2u * S, even(d->input_dim), gx);
    sharnn_f32_matvec(d->u_ss, s, NULL, S, even(S), gh);
    for (uint32_t j = 0; j < S; j++) {
        s[j] = sharnn_tanh(gx[j] + gh[j]);
    }
    sharnn_f32_matvec(d->w_gs, s, NULL, S, even(S), gh);
    for (uint32_t j = 0; j < S; j++) {
        gs[j] = sharnn_sigmoid(gx[S + j] + gh[j]) * s[j];
    }
    if (S & 1u) {
        gs[S] = 0.0f;        /* the pad column of W_ls */
    }
    sharnn_f32_matvec(d->w_ls, gs, d->b_l, H, even(S), gh);
    for (uint32_t j = 0; j < H; j++) {
        const float pre = sharnn_fma(d->u[j], l[j], gh[j]);
        l[j] = d->relu ? (pre > 0.0f ? pre : 0.0f) : sharnn_tanh(pre);
    }
}

/* A step: the gate sums (DuRNN: per module, in its own order), then the element-wise update. */
const float *sharnn_f32_cell_step(const sharnn_f32_cell_t *c, const float *x, float *state, float *scratch)
{
    float *gx = scratch;
    float *gh = scratch + pad8(rows_x(c));
    const float *out = state;
    if (c->kind != SHARNN_CELL_DURNN) {
        sharnn_f32_matvec(c->w_x, x, c->b_x, rows_x(c), even(c->input_dim), gx);
        if (c->w_h != NULL) {
            sharnn_f32_matvec(c->w_h, state, c->b_h, rows_x(c), even(c->hidden_dim), gh);
        }
    }
    switch (c->kind) {
    case SHARNN_CELL_LSTM:
        lstm_update(c, state, gx, gh);
        break;
    case SHARNN_CELL_GRU:
        gru_update(c, state, gx, gh);
        break;
    case SHARNN_CELL_FASTGRNN:
        fastgrnn_update(c, state, gx, gh);
        break;
    case SHARNN_CELL_MINGRU:
        mingru_update(c, state, gx);
        break;
    case SHARNN_CELL_MINLSTM:
        minlstm_update(c, state, gx);
        break;
    case SHARNN_CELL_DURNN: {
        float *st = state;
        for (uint32_t m = 0; m < c->num_modules; m++) {
            const sharnn_f32_durnn_module_t *d = &c->modules[m];
            float *l = st + even(d->short_dim);
            durnn_module_step(d, x, st, l, gx);
            x = out = l;             /* the next module's input */
            st = l + even(d->hidden_dim);
        }
        break;
    }
    default:
        break;
    }
    if (c->above != NULL) {
        return sharnn_f32_cell_step(c->above, out, state + own_state_len(c), scratch);
    }
    return out;
}

/* ---------------------------------------------------------------- composition */

/* Scratch layout shared by infer and stream_push:
 *   xn [D even] | s1 [state(cell0)] | s2 [state(cell1)] | cell scratch and the classifier's sums */
size_t sharnn_f32_scratch_len(const sharnn_f32_model_t *m)
{
    size_t n = even(m->input_dim);
    size_t cell = pad8(m->num_classes);
    for (uint8_t l = 0; l < m->levels; l++) {
        n += sharnn_f32_cell_state_len(&m->cell[l]);
        cell = max_size(cell, sharnn_f32_cell_scratch_len(&m->cell[l]));
    }
    return n + cell;
}

/* Cell 0 over `steps` raw input steps from a zero state in s1; returns its output h. */
static const float *run_lower(const sharnn_f32_model_t *m, const float *x, uint32_t steps, float *xn, float *s1,
                              float *cs)
{
    const sharnn_f32_cell_t *c = &m->cell[0];
    const uint32_t D = m->input_dim;
    const float *h = s1;
    memset(s1, 0, sharnn_f32_cell_state_len(c) * sizeof(float));
    if (D & 1u) {
        xn[D] = 0.0f;        /* the pad column of W_x */
    }
    for (uint32_t t = 0; t < steps; t++) {
        const float *xt = x + (size_t)t * D;
        for (uint32_t i = 0; i < D; i++) {
            xn[i] = (xt[i] - m->in_mean[i]) * m->in_inv_std[i];
        }
        h = sharnn_f32_cell_step(c, xn, s1, cs);
    }
    return h;
}

static void classify(const sharnn_f32_model_t *m, const float *h_top, float *logits, float *cs)
{
    sharnn_f32_matvec(m->fc_w, h_top, m->fc_b, m->num_classes, even(m->cell[m->levels - 1].hidden_dim), cs);
    memcpy(logits, cs, m->num_classes * sizeof(float));
}

void sharnn_f32_infer(const sharnn_f32_model_t *m, const float *x, float *logits, float *scratch)
{
    const sharnn_f32_cell_t *c0 = &m->cell[0], *c1 = &m->cell[1];
    float *xn = scratch;
    float *s1 = xn + even(m->input_dim);
    float *s2 = s1 + sharnn_f32_cell_state_len(c0);
    if (m->levels == 1) {
        classify(m, run_lower(m, x, m->window, xn, s1, s2), logits, s2);
        return;
    }
    float *cs = s2 + sharnn_f32_cell_state_len(c1);
    const float *h2 = s2;
    memset(s2, 0, sharnn_f32_cell_state_len(c1) * sizeof(float));
    for (uint32_t b = 0; b < (uint32_t)(m->window / m->k); b++) {
        const float *h1 = run_lower(m, x + (size_t)b * m->k * m->input_dim, m->k, xn, s1, cs);
        h2 = sharnn_f32_cell_step(c1, h1, s2, cs);
    }
    classify(m, h2, logits, cs);
}

size_t sharnn_f32_stream_len(const sharnn_f32_model_t *m)
{
    return (size_t)(m->window / m->k) * even(m->cell[0].hidden_dim);
}

void sharnn_f32_stream_init(sharnn_f32_stream_t *s, float *bricks)
{
    s->bricks = bricks;
    s->filled = 0;
    s->head = 0;
}

int sharnn_f32_stream_push(const sharnn_f32_model_t *m, sharnn_f32_stream_t *s, const float *x,
                           float *logits, float *scratch)
{
    const sharnn_f32_cell_t *c0 = &m->cell[0], *c1 = &m->cell[1];
    const uint32_t nb = m->window / m->k;
    const uint32_t h1 = even(c0->hidden_dim);
    float *xn = scratch;
    float *s1 = xn + even(m->input_dim);
    float *s2 = s1 + sharnn_f32_cell_state_len(c0);
    float *cs = s2 + sharnn_f32_cell_state_len(c1);

    /* The new brick replaces the oldest one in the ring (its zero pad included). */
    const float *brick = run_lower(m, x, m->k, xn, s1, cs);
    const uint32_t slot = sharnn_ring_next_slot(&s->head, &s->filled, nb);
    memcpy(s->bricks + (size_t)slot * h1, brick, h1 * sizeof(float));
    if (s->filled < nb) {
        return 0;
    }
    const float *h2 = s2;
    memset(s2, 0, sharnn_f32_cell_state_len(c1) * sizeof(float));
    for (uint32_t b = 0; b < nb; b++) {
        h2 = sharnn_f32_cell_step(c1, s->bricks + (size_t)((s->head + b) % nb) * h1, s2, cs);
    }
    classify(m, h2, logits, cs);
    return 1;
}

/* k-wise parallelism: scratch laid out as for sharnn_f32_infer (xn | s1 | s2 | cell scratch), brick
 * outputs with the ring's stride (H1 even, the pad copied as stream_push copies it). */
void sharnn_f32_bricks(const sharnn_f32_model_t *m, const float *x, uint32_t count, float *out, float *scratch)
{
    const sharnn_f32_cell_t *c0 = &m->cell[0], *c1 = &m->cell[1];
    const uint32_t h1 = even(c0->hidden_dim);
    float *xn = scratch;
    float *s1 = xn + even(m->input_dim);
    float *cs = s1 + sharnn_f32_cell_state_len(c0) + sharnn_f32_cell_state_len(c1);

    for (uint32_t b = 0; b < count; b++) {
        const float *h = run_lower(m, x + (size_t)b * m->k * m->input_dim, m->k, xn, s1, cs);
        memcpy(out + (size_t)b * h1, h, h1 * sizeof(float));
    }
}

void sharnn_f32_upper_step(const sharnn_f32_model_t *m, const float *brick, uint32_t index, float *logits,
                           float *scratch)
{
    const sharnn_f32_cell_t *c0 = &m->cell[0], *c1 = &m->cell[1];
    float *s2 = scratch + even(m->input_dim) + sharnn_f32_cell_state_len(c0);
    float *cs = s2 + sharnn_f32_cell_state_len(c1);

    if (index == 0) {
        memset(s2, 0, sharnn_f32_cell_state_len(c1) * sizeof(float));
    }
    const float *h2 = sharnn_f32_cell_step(c1, brick, s2, cs);
    if (index + 1u == (uint32_t)(m->window / m->k)) {
        classify(m, h2, logits, cs);
    }
}

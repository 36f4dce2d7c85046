/*
 * sharnn.h - recurrent-network kernels for Cortex-M (ShaRNN and its cells).
 *
 * Pure functions over caller-owned buffers: no heap, no OS calls, no global state. Every function
 * that needs working memory takes a scratch pointer whose size a *_scratch_* function computes, so
 * firmware can size every buffer statically.
 *
 * Float kernels compute in IEEE single precision with fused multiply-adds in an order the source
 * fixes, and with our own sigmoid/tanh (no libm), so the same source built with -ffp-contract=off
 * gives bit-identical results on x86-64 and on a Cortex-M4F (see the float32 section).
 * Integer kernels (int16 weights and activations, int32 accumulators) give the same integers on
 * every C99 compiler with arithmetic right shifts (GCC, Clang), portable or DSP path.
 */
#ifndef SHARNN_H
#define SHARNN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SHARNN_VERSION_MAJOR 2
#define SHARNN_VERSION_MINOR 0

/* Cell kinds; numbering is part of the generated-model ABI. */
typedef enum {
    SHARNN_CELL_LSTM = 1,      /* gates i, f, g, o (torch order); state h, c */
    SHARNN_CELL_GRU = 2,       /* gates r, z, n (torch order); state h */
    SHARNN_CELL_FASTGRNN = 3,  /* a = W x + U h; z, h~ from a; state h */
    SHARNN_CELL_MINGRU = 4,    /* z, h~ from x only; state h; layers stack (`above`) */
    SHARNN_CELL_MINLSTM = 5,   /* f, i, h~ from x only; state h; layers stack (`above`) */
    SHARNN_CELL_DURNN = 6,     /* stacked modules of short- and long-term units */
} sharnn_cell_kind_t;

/* ---------------------------------------------------------------- float32
 *
 * Arithmetic: every multiply-add is fused (one rounding, IEEE 754 fusedMultiplyAdd: VFMA.F32 on a
 * Cortex-M4F, a correctly rounded software fmaf where the compiler has no fused instruction), and
 * the source fixes the order: a matrix row is one chain, acc = b[r], acc = fma(w[r][j], v[j], acc)
 * for j = 0, 1, 2, ...; the cell updates are written out operation by operation. Built with
 * -ffp-contract=off (the compiler adds no contraction of its own), every IEEE single-precision
 * machine computes the same bits. tanh and sigmoid are our own (sharnn_tanhf), not libm's.
 *
 * Weight layout: a matrix is stored in blocks of 8 rows (its rows padded to a multiple of 8 with
 * zero rows, its columns to an even count with zero columns). Within a block the columns come in
 * chunks of four (the last chunk of two when cols % 4 == 2); within a chunk, row by row, the
 * chunk's weights of that row. One VLDM fetches a chunk of four rows, one VFMA does a MAC. A vector
 * a matrix reads holds its padded column count (pads zero); its output holds the padded rows.
 */

/* y[r] = b[r] + sum_j w[r][j] v[j] (one fused chain per row, j ascending; b NULL: from +0) for
 * rows r < 8 * ceil(rows / 8) (b and y hold that many); cols even. The matrix-vector core of every float cell (exposed for
 * tests and the kernel benchmark). Built for a Cortex-M4F/M7/M33 the block loop is VLDM/VFMA
 * assembly; -DSHARNN_PORTABLE (or another target) takes the C loop, which gives the same bits. */
void sharnn_f32_matvec(const float *w, const float *v, const float *b, uint32_t rows, uint32_t cols, float *y);

/* One DuRNN module (S short-term units, H long-term units):
 *   s' = tanh(W_sx x + b_s + U_ss s);  g = sigmoid(W_gx x + b_g + W_gs s');
 *   l' = phi(u l + (b_l + W_ls (g s')))   (phi: ReLU or tanh). */
typedef struct {
    uint16_t input_dim;      /* I */
    uint16_t short_dim;      /* S */
    uint16_t hidden_dim;     /* H */
    uint8_t relu;            /* phi: 1 ReLU, 0 tanh */
    const float *w_x;        /* [W_sx; W_gx]: 2S rows over x */
    const float *b_x;        /* [b_s; b_g] (every initial-sum vector holds the padded rows) */
    const float *u_ss;       /* S rows over s */
    const float *w_gs;       /* S rows over s' */
    const float *w_ls;       /* H rows over g s' */
    const float *b_l;        /* [H] */
    const float *u;          /* [H] independent recurrence */
} sharnn_f32_durnn_module_t;

typedef struct sharnn_f32_cell {
    uint8_t kind;            /* sharnn_cell_kind_t */
    uint16_t input_dim;      /* I */
    uint16_t hidden_dim;     /* H */
    const float *w_x;        /* every gate row over x, torch row order (LSTM 4H, GRU 3H, FastGRNN H,
                                minGRU 2H: z then h~, minLSTM 3H: f, i, h~) */
    const float *b_x;        /* initial sums of the x rows (NULL: zero) */
    const float *w_h;        /* the same rows over h (NULL: none, minGRU/minLSTM) */
    const float *b_h;        /* initial sums of the h rows (NULL: zero) */
    const float *aux;        /* FastGRNN: b_z[H] then b_h[H] */
    float param[2];          /* FastGRNN: zeta, nu (after their sigmoid) */
    const sharnn_f32_durnn_module_t *modules;   /* DuRNN: its modules, bottom first */
    uint8_t num_modules;
    const struct sharnn_f32_cell *above;        /* minGRU/minLSTM: the next stacked layer (its input
                                                   is this layer's h), NULL for the top layer */
} sharnn_f32_cell_t;

typedef struct {
    uint16_t window;         /* T: steps per window */
    uint16_t input_dim;      /* D: channels per step */
    uint16_t k;              /* brick length (levels == 2); T % k == 0 */
    uint16_t num_classes;
    uint8_t levels;          /* 1: single-level RNN over the window, 2: ShaRNN */
    const float *in_mean;    /* [D] per-channel normalisation: (x - mean) * inv_std */
    const float *in_inv_std; /* [D] */
    sharnn_f32_cell_t cell[2];
    const float *fc_w;       /* num_classes rows over H_top, in the block layout */
    const float *fc_b;       /* [num_classes rounded up to 8] */
} sharnn_f32_model_t;

/* Floats of a cell's state (zero it for the zero state): h (H rounded up to even, the pad kept 0),
 * LSTM then c [H]; DuRNN per module s [S even] then l [H even]; a stack, layer after layer. */
size_t sharnn_f32_cell_state_len(const sharnn_f32_cell_t *c);
/* Floats of scratch one step needs (gate sums). */
size_t sharnn_f32_cell_scratch_len(const sharnn_f32_cell_t *c);
/* One time step: state <- cell(x, state); x holds input_dim rounded up to even floats (pad 0).
 * Returns the cell's output h (a pointer into state, H even floats). */
const float *sharnn_f32_cell_step(const sharnn_f32_cell_t *c, const float *x, float *state, float *scratch);

/* Floats of scratch sharnn_f32_infer / sharnn_f32_stream_push need. */
size_t sharnn_f32_scratch_len(const sharnn_f32_model_t *m);

/* Full window: x[T][D] raw inputs -> logits[num_classes]. */
void sharnn_f32_infer(const sharnn_f32_model_t *m, const float *x, float *logits, float *scratch);

/* Streaming ShaRNN (paper's Claim 1): a ring of the brick outputs still inside the window. */
typedef struct {
    float *bricks;           /* caller-owned [T/k][H1 even], sharnn_f32_stream_len(m) floats */
    uint16_t filled;         /* bricks pushed so far, saturating at T/k */
    uint16_t head;           /* ring index of the oldest brick */
} sharnn_f32_stream_t;

size_t sharnn_f32_stream_len(const sharnn_f32_model_t *m);
void sharnn_f32_stream_init(sharnn_f32_stream_t *s, float *bricks);
/* Push the newest k steps x[k][D]; computes that brick and the upper level only. Returns 1 and
 * writes logits once T/k bricks have arrived (the window is full), 0 before. */
int sharnn_f32_stream_push(const sharnn_f32_model_t *m, sharnn_f32_stream_t *s, const float *x,
                           float *logits, float *scratch);

/* k-wise parallelism (the paper's Claim 2): the lower level's bricks are independent, so cores can
 * compute them apart into a caller-owned buffer of brick outputs ([T/k][H1 even] floats, the size of the
 * stream ring), then one core runs the upper level over them in order. The same operations in the
 * same order as sharnn_f32_infer: the logits are bit-equal. Each core passes its own scratch.
 *
 * bricks: the `count` consecutive bricks whose first step is x (x[count*k][D] raw inputs) -> their
 * outputs h at out[count][H1 even]. upper_step: the upper level's step over brick `index` (0 restarts it
 * from the zero state, kept in scratch between calls); the step with index T/k - 1 writes logits. */
void sharnn_f32_bricks(const sharnn_f32_model_t *m, const float *x, uint32_t count, float *out, float *scratch);
void sharnn_f32_upper_step(const sharnn_f32_model_t *m, const float *brick, uint32_t index, float *logits,
                           float *scratch);

/* The activations of the float kernels and their fused multiply-add (exposed for tests):
 * sigmoid(x) = 1 / (1 + 2^(-x log2 e)), tanh(x) = (2^(2x log2 e) - 1) / (2^(2x log2 e) + 1), |x| clamped at 40,
 * 2^y from a degree-6 polynomial and the exponent bits. */
float sharnn_sigmoidf(float x);
float sharnn_tanhf(float x);
float sharnn_fmaf(float a, float b, float c);

/* ------------------------------------------------------------------ int16
 *
 * Fixed point (the plan is workbench/quantize/plan.py; the numpy reference there is the golden
 * model these functions equal bit for bit). Qn means value = integer / 2^n.
 *   - vectors (inputs, hidden states): int16; hidden states of LSTM/GRU in Q15, the LSTM cell state
 *     in Q(q_c), the other cells' unbounded states in their calibrated Q(q_h); the model input in
 *     Q(q_in), already normalised by the host;
 *   - weights int16 with one power-of-two scale per tensor, biases int32 at the accumulator scale;
 *   - accumulators int32; the plan proves no row can leave int32 for any int16 input, so nothing
 *     saturates or wraps and summation order is free (the DSP path equals the portable one);
 *   - requantization: arithmetic shift right with round half up, (x + 2^(n-1)) >> n (for the
 *     accumulators the 2^(n-1) is folded into the biases at export);
 *   - gate pre-activations reach tanh/sigmoid in Q16 (table + linear interpolation, Q15 out).
 *
 * Weight layout: the rows of one block are interleaved by column pairs, so one load fetches the
 * pair of every row of the block: for block b, pair p, row r: w[((b*P + p)*R + r)*2 + {0,1}] =
 * W[row(b,r)][2p], W[row(b,r)][2p+1], with P = cols/2 (cols padded to even with zero weights).
 * A cell's block holds the gate rows of a few hidden units, so their gates come out of one pass and
 * are consumed at once: LSTM i f g o of one unit (R = 4), GRU r z n (R = 3), FastGRNN a of four
 * units (R = 4), minGRU z h~ of two units (R = 4), minLSTM f i h~ (R = 3), DuRNN rows of four units;
 * a last block short of units has zero rows. The classifier uses blocks of R = 4 rows.
 *
 * Built with __ARM_FEATURE_DSP (Cortex-M4/M7/M33 with DSP) the block dot product is SMLAD dual
 * MACs over LDRD/LDM loads; -DSHARNN_PORTABLE forces the plain C path. Buffers holding vectors and
 * weights must be 4-byte aligned. */

/* One DuRNN module: s' = tanh(W_sx x + U_ss s + b_s) (S short-term units, Q15);
 * g = sigmoid(W_gx x + W_gs s' + b_g); l' = phi(W_ls (g s') + u l + b_l) (H long-term units, Q(q_l);
 * phi = ReLU or tanh). Matrices in blocks of 4 rows; each shift brings its accumulator to Q16. */
typedef struct {
    uint16_t input_dim;      /* I, even */
    uint16_t short_dim;      /* S */
    uint16_t hidden_dim;     /* H */
    uint8_t shift_sx, shift_ss, shift_gx, shift_gs, shift_l;
    uint8_t q_l;             /* Q format of l, 1..15 */
    uint8_t relu;            /* phi: 1 ReLU, 0 tanh */
    const int16_t *w_sx;     /* over x */
    const int16_t *u_ss;     /* over s */
    const int16_t *w_gx;     /* over x */
    const int16_t *w_gs;     /* over s' */
    const int16_t *w_ls;     /* over g s' */
    const int32_t *b_s;      /* per block of 4 short units: 4 for W_sx x, 4 for U_ss s (+ rounding) */
    const int32_t *b_g;      /* per block: 4 for W_gx x, 4 for W_gs s' */
    const int32_t *b_l;      /* per block of 4 long units */
    const int16_t *u;        /* [H] independent recurrence, Q15 */
} sharnn_q15_durnn_module_t;

typedef struct sharnn_q15_cell {
    uint8_t kind;            /* sharnn_cell_kind_t */
    uint8_t shift_x;         /* x accumulator -> Q16: q_wx + q_x - 16 */
    uint8_t shift_h;         /* h accumulator -> Q16: q_wh + q_h - 16 */
    uint8_t q_c;             /* LSTM: Q format of the cell state (int16) */
    uint8_t q_h;             /* Q format of h: 15 for LSTM/GRU, calibrated for the others */
    uint16_t input_dim;      /* I, even (a zero column pads odd inputs) */
    uint16_t hidden_dim;     /* H; state buffers hold H rounded up to even, the pad kept at 0 */
    const int16_t *w_x;      /* input weights in blocks of R rows over I columns, Q(q_wx) */
    const int16_t *w_h;      /* recurrent weights in blocks over H columns, Q(q_wh); NULL: none */
    const int32_t *bias;     /* per block: R initial x accumulators, Q(q_wx + q_x) + 2^(shift_x-1),
                                then (with w_h) R initial h accumulators, Q(q_wh + q_h) + 2^(shift_h-1) */
    const int32_t *aux;      /* cell-specific vector: FastGRNN b_z[H] then b_h[H], Q16 */
    int16_t param[2];        /* cell-specific scalars: FastGRNN zeta, nu (after their sigmoid), Q15 */
    const sharnn_q15_durnn_module_t *modules;   /* DuRNN: its modules, bottom first */
    uint8_t num_modules;
    const struct sharnn_q15_cell *above;        /* minGRU/minLSTM: the next stacked layer (its input
                                                   is this layer's h in Q(q_h)), NULL for the top */
} sharnn_q15_cell_t;

typedef struct {
    uint16_t window;         /* T */
    uint16_t input_dim;      /* D, even: the host pads odd inputs with a zero channel */
    uint16_t k;              /* brick length (levels == 2) */
    uint16_t num_classes;
    uint8_t levels;          /* 1: single-level RNN, 2: ShaRNN */
    sharnn_q15_cell_t cell[2];
    const int16_t *fc_w;     /* ceil(C/4) blocks of 4 rows over H_top (even), Q(q_fc) */
    const int32_t *fc_b;     /* [ceil(C/4)*4], Q(q_fc + 15): logits come out in this Q */
} sharnn_q15_model_t;

/* acc[r] += row r . v for rows = blocks * block_rows rows in the interleaved layout, cols even.
 * The recurrent matrix-vector core (exposed for tests and the kernel benchmark). */
void sharnn_q15_matvec(const int16_t *w, const int16_t *v, uint32_t rows, uint32_t block_rows, uint32_t cols,
                       int32_t *acc);

/* A cell's state buffer (int16 elements): two halves of its ping-pong buffers plus the rest
 * (most cells [h0 | h1], LSTM [h0 | h1 | c], DuRNN per module [s0 | s1 | l0 | l1 | g s']; every
 * length rounded up to even; a stack, layer after layer). Zero it for the zero state. */
size_t sharnn_q15_cell_state_len(const sharnn_q15_cell_t *c);

/* One time step: reads the state half `cur` (0 or 1), writes the other; returns the new h (a
 * pointer into state). */
const int16_t *sharnn_q15_cell_step(const sharnn_q15_cell_t *c, const int16_t *x, int16_t *state, uint32_t cur);

/* int16 elements of scratch sharnn_q15_infer / sharnn_q15_stream_push need (the state buffer of
 * each level). */
size_t sharnn_q15_scratch_len(const sharnn_q15_model_t *m);

/* Full window: x[T][D] int16 inputs in Q(q_in) -> logits[num_classes] int32. */
void sharnn_q15_infer(const sharnn_q15_model_t *m, const int16_t *x, int32_t *logits, int16_t *scratch);

/* Streaming ShaRNN: a ring of the brick outputs still inside the window (Q15). */
typedef struct {
    int16_t *bricks;         /* caller-owned [T/k][H1 even], sharnn_q15_stream_len(m) elements */
    uint16_t filled;
    uint16_t head;
} sharnn_q15_stream_t;

size_t sharnn_q15_stream_len(const sharnn_q15_model_t *m);
void sharnn_q15_stream_init(sharnn_q15_stream_t *s, int16_t *bricks);
/* Push the newest k steps x[k][D]: computes that brick and the upper level only. Returns 1 and
 * writes logits once T/k bricks have arrived, 0 before. */
int sharnn_q15_stream_push(const sharnn_q15_model_t *m, sharnn_q15_stream_t *s, const int16_t *x,
                           int32_t *logits, int16_t *scratch);

/* k-wise parallelism, as sharnn_f32_bricks / sharnn_f32_upper_step: brick outputs are H1 rounded
 * up to even int16 each (out[count][H1 even], 4-byte aligned); bit-equal to sharnn_q15_infer. */
void sharnn_q15_bricks(const sharnn_q15_model_t *m, const int16_t *x, uint32_t count, int16_t *out,
                       int16_t *scratch);
void sharnn_q15_upper_step(const sharnn_q15_model_t *m, const int16_t *brick, uint32_t index, int32_t *logits,
                           int16_t *scratch);

/* Q16 in, Q15 out (exposed for tests). */
int16_t sharnn_tanh_q15(int32_t x);
int16_t sharnn_sigmoid_q15(int32_t x);

/* 1 when this build runs the SMLAD path, 0 for the portable one. */
int sharnn_q15_uses_dsp(void);

#ifdef __cplusplus
}
#endif

#endif /* SHARNN_H */

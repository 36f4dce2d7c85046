/*
 * sharnn.h - recurrent-network kernels for Cortex-M (ShaRNN and its cells).
 *
 * Pure functions over caller-owned buffers: no heap, no OS calls, no global state. Every function
 * that needs working memory takes a scratch pointer whose size a *_scratch_* function computes, so
 * firmware can size every buffer statically.
 *
 * Float kernels compute in IEEE single precision with our own exp/tanh/sigmoid (not libm), so the
 * same source built with -ffp-contract=off gives bit-identical results on x86-64 and on a Cortex-M4F.
 */
#ifndef SHARNN_H
#define SHARNN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SHARNN_VERSION_MAJOR 1
#define SHARNN_VERSION_MINOR 0

/* Cell kinds; numbering is part of the generated-model ABI. */
typedef enum {
    SHARNN_CELL_LSTM = 1,   /* gates i, f, g, o (torch order); state h, c */
    SHARNN_CELL_GRU = 2,    /* gates r, z, n (torch order); state h */
} sharnn_cell_kind_t;

/* Number of gate blocks of H rows in w_ih / w_hh for a cell kind (0 for an unknown kind). */
uint32_t sharnn_cell_gates(uint8_t kind);
/* Floats of recurrent state of one cell: H, or 2H for LSTM (h then c). */
uint32_t sharnn_cell_state_len(uint8_t kind, uint16_t hidden_dim);

/* ---------------------------------------------------------------- float32 */

typedef struct {
    uint8_t kind;            /* sharnn_cell_kind_t */
    uint16_t input_dim;      /* I */
    uint16_t hidden_dim;     /* H */
    const float *w_ih;       /* [gates*H][I], row-major */
    const float *w_hh;       /* [gates*H][H] */
    const float *b_ih;       /* [gates*H] */
    const float *b_hh;       /* [gates*H] */
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
    const float *fc_w;       /* [num_classes][H_top] */
    const float *fc_b;       /* [num_classes] */
} sharnn_f32_model_t;

/* One time step: state <- cell(x, state). scratch: sharnn_f32_cell_scratch_len(c) floats. */
void sharnn_f32_cell_step(const sharnn_f32_cell_t *c, const float *x, float *state, float *scratch);
size_t sharnn_f32_cell_scratch_len(const sharnn_f32_cell_t *c);

/* Floats of scratch sharnn_f32_infer / sharnn_f32_stream_push need. */
size_t sharnn_f32_scratch_len(const sharnn_f32_model_t *m);

/* Full window: x[T][D] raw inputs -> logits[num_classes]. */
void sharnn_f32_infer(const sharnn_f32_model_t *m, const float *x, float *logits, float *scratch);

/* Streaming ShaRNN (paper's Claim 1): a ring of the brick outputs still inside the window. */
typedef struct {
    float *bricks;           /* caller-owned [T/k][H1], sharnn_f32_stream_len(m) floats */
    uint16_t filled;         /* bricks pushed so far, saturating at T/k */
    uint16_t head;           /* ring index of the oldest brick */
} sharnn_f32_stream_t;

size_t sharnn_f32_stream_len(const sharnn_f32_model_t *m);
void sharnn_f32_stream_init(sharnn_f32_stream_t *s, float *bricks);
/* Push the newest k steps x[k][D]; computes that brick and the upper level only. Returns 1 and
 * writes logits once T/k bricks have arrived (the window is full), 0 before. */
int sharnn_f32_stream_push(const sharnn_f32_model_t *m, sharnn_f32_stream_t *s, const float *x,
                           float *logits, float *scratch);

/* Activations used by the float kernels (exposed for tests). */
float sharnn_expf(float x);
float sharnn_sigmoidf(float x);
float sharnn_tanhf(float x);

#ifdef __cplusplus
}
#endif

#endif /* SHARNN_H */

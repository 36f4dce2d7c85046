/*
 * Float32 cells and the ShaRNN composition.
 *
 * Gate layouts follow torch (LSTM: i, f, g, o; GRU: r, z, n) so exported weights are used as-is.
 * Full-window inference never stores the brick outputs: bricks are independent, so each brick's
 * output is fed to the upper cell as soon as it is computed (O(H) memory). Streaming keeps the ring
 * of brick outputs and reruns only the upper level; both paths execute the same operations in the
 * same order, so a stream's logits equal the full window's bit for bit.
 */
#include "sharnn.h"
#include "sharnn_ring.h"

#include <string.h>

uint32_t sharnn_cell_gates(uint8_t kind)
{
    switch (kind) {
    case SHARNN_CELL_LSTM: return 4;
    case SHARNN_CELL_GRU: return 3;
    default: return 0;
    }
}

uint32_t sharnn_cell_state_len(uint8_t kind, uint16_t hidden_dim)
{
    return kind == SHARNN_CELL_LSTM ? 2u * hidden_dim : hidden_dim;
}

/* y[r] = b[r] + sum_j w[r][j] * x[j], summed left to right. */
static void matvec_f32(const float *w, const float *b, const float *x, uint32_t rows, uint32_t cols, float *y)
{
    for (uint32_t r = 0; r < rows; r++) {
        const float *row = w + (size_t)r * cols;
        float acc = 0.0f;
        for (uint32_t j = 0; j < cols; j++) {
            acc += row[j] * x[j];
        }
        y[r] = acc + b[r];
    }
}

size_t sharnn_f32_cell_scratch_len(const sharnn_f32_cell_t *c)
{
    return 2u * sharnn_cell_gates(c->kind) * c->hidden_dim;
}

void sharnn_f32_cell_step(const sharnn_f32_cell_t *c, const float *x, float *state, float *scratch)
{
    const uint32_t H = c->hidden_dim;
    const uint32_t G = sharnn_cell_gates(c->kind);
    float *gx = scratch;             /* W_ih x + b_ih  [G*H] */
    float *gh = scratch + G * H;     /* W_hh h + b_hh  [G*H] */
    float *h = state;

    matvec_f32(c->w_ih, c->b_ih, x, G * H, c->input_dim, gx);
    matvec_f32(c->w_hh, c->b_hh, h, G * H, H, gh);

    if (c->kind == SHARNN_CELL_LSTM) {
        float *cs = state + H;
        for (uint32_t j = 0; j < H; j++) {
            float i = sharnn_sigmoidf(gx[j] + gh[j]);
            float f = sharnn_sigmoidf(gx[H + j] + gh[H + j]);
            float g = sharnn_tanhf(gx[2 * H + j] + gh[2 * H + j]);
            float o = sharnn_sigmoidf(gx[3 * H + j] + gh[3 * H + j]);
            cs[j] = f * cs[j] + i * g;
            h[j] = o * sharnn_tanhf(cs[j]);
        }
    } else if (c->kind == SHARNN_CELL_GRU) {
        for (uint32_t j = 0; j < H; j++) {
            float r = sharnn_sigmoidf(gx[j] + gh[j]);
            float z = sharnn_sigmoidf(gx[H + j] + gh[H + j]);
            float n = sharnn_tanhf(gx[2 * H + j] + r * gh[2 * H + j]);
            h[j] = (1.0f - z) * n + z * h[j];
        }
    }
}

static const sharnn_f32_cell_t *top_cell(const sharnn_f32_model_t *m)
{
    return &m->cell[m->levels - 1];
}

/* Scratch layout shared by infer and stream_push:
 *   xn[D] | s1[state(cell0)] | s2[state(cell1)] | cell scratch[max over cells] */
size_t sharnn_f32_scratch_len(const sharnn_f32_model_t *m)
{
    size_t n = m->input_dim;
    size_t cell = 0;
    for (uint8_t l = 0; l < m->levels; l++) {
        n += sharnn_cell_state_len(m->cell[l].kind, m->cell[l].hidden_dim);
        size_t cs = sharnn_f32_cell_scratch_len(&m->cell[l]);
        cell = cs > cell ? cs : cell;
    }
    return n + cell;
}

/* Run cell 0 over `steps` raw input steps from a zero state; its hidden state ends in s1. */
static void run_lower(const sharnn_f32_model_t *m, const float *x, uint32_t steps, float *xn, float *s1,
                      float *cs)
{
    const sharnn_f32_cell_t *c = &m->cell[0];
    memset(s1, 0, sharnn_cell_state_len(c->kind, c->hidden_dim) * sizeof(float));
    for (uint32_t t = 0; t < steps; t++) {
        const float *xt = x + (size_t)t * m->input_dim;
        for (uint32_t i = 0; i < m->input_dim; i++) {
            xn[i] = (xt[i] - m->in_mean[i]) * m->in_inv_std[i];
        }
        sharnn_f32_cell_step(c, xn, s1, cs);
    }
}

static void classify(const sharnn_f32_model_t *m, const float *h_top, float *logits)
{
    matvec_f32(m->fc_w, m->fc_b, h_top, m->num_classes, top_cell(m)->hidden_dim, logits);
}

void sharnn_f32_infer(const sharnn_f32_model_t *m, const float *x, float *logits, float *scratch)
{
    const sharnn_f32_cell_t *c0 = &m->cell[0];
    float *xn = scratch;
    float *s1 = xn + m->input_dim;
    float *s2 = s1 + sharnn_cell_state_len(c0->kind, c0->hidden_dim);

    if (m->levels == 1) {
        float *cs = s2;
        run_lower(m, x, m->window, xn, s1, cs);
        classify(m, s1, logits);
        return;
    }
    const sharnn_f32_cell_t *c1 = &m->cell[1];
    float *cs = s2 + sharnn_cell_state_len(c1->kind, c1->hidden_dim);
    memset(s2, 0, sharnn_cell_state_len(c1->kind, c1->hidden_dim) * sizeof(float));
    for (uint32_t b = 0; b < (uint32_t)(m->window / m->k); b++) {
        run_lower(m, x + (size_t)b * m->k * m->input_dim, m->k, xn, s1, cs);
        sharnn_f32_cell_step(c1, s1, s2, cs);  /* h of the brick is the first H1 floats of s1 */
    }
    classify(m, s2, logits);
}

size_t sharnn_f32_stream_len(const sharnn_f32_model_t *m)
{
    return (size_t)(m->window / m->k) * m->cell[0].hidden_dim;
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
    const sharnn_f32_cell_t *c0 = &m->cell[0];
    const sharnn_f32_cell_t *c1 = &m->cell[1];
    const uint32_t nb = m->window / m->k;
    const uint32_t H1 = c0->hidden_dim;
    float *xn = scratch;
    float *s1 = xn + m->input_dim;
    float *s2 = s1 + sharnn_cell_state_len(c0->kind, H1);
    float *cs = s2 + sharnn_cell_state_len(c1->kind, c1->hidden_dim);

    /* The new brick replaces the oldest one in the ring. */
    run_lower(m, x, m->k, xn, s1, cs);
    const uint32_t slot = sharnn_ring_next_slot(&s->head, &s->filled, nb);
    memcpy(s->bricks + (size_t)slot * H1, s1, H1 * sizeof(float));
    if (s->filled < nb) {
        return 0;
    }
    memset(s2, 0, sharnn_cell_state_len(c1->kind, c1->hidden_dim) * sizeof(float));
    for (uint32_t b = 0; b < nb; b++) {
        sharnn_f32_cell_step(c1, s->bricks + (size_t)((s->head + b) % nb) * H1, s2, cs);
    }
    classify(m, s2, logits);
    return 1;
}

/* k-wise parallelism: scratch laid out as for sharnn_f32_infer (xn | s1 | s2 | cell scratch). */
void sharnn_f32_bricks(const sharnn_f32_model_t *m, const float *x, uint32_t count, float *out, float *scratch)
{
    const sharnn_f32_cell_t *c0 = &m->cell[0];
    const uint32_t H1 = c0->hidden_dim;
    float *xn = scratch;
    float *s1 = xn + m->input_dim;
    float *s2 = s1 + sharnn_cell_state_len(c0->kind, H1);
    float *cs = s2 + sharnn_cell_state_len(m->cell[1].kind, m->cell[1].hidden_dim);

    for (uint32_t b = 0; b < count; b++) {
        run_lower(m, x + (size_t)b * m->k * m->input_dim, m->k, xn, s1, cs);
        memcpy(out + (size_t)b * H1, s1, H1 * sizeof(float));
    }
}

void sharnn_f32_upper_step(const sharnn_f32_model_t *m, const float *brick, uint32_t index, float *logits,
                           float *scratch)
{
    const sharnn_f32_cell_t *c0 = &m->cell[0];
    const sharnn_f32_cell_t *c1 = &m->cell[1];
    float *s2 = scratch + m->input_dim + sharnn_cell_state_len(c0->kind, c0->hidden_dim);
    float *cs = s2 + sharnn_cell_state_len(c1->kind, c1->hidden_dim);

    if (index == 0) {
        memset(s2, 0, sharnn_cell_state_len(c1->kind, c1->hidden_dim) * sizeof(float));
    }
    sharnn_f32_cell_step(c1, brick, s2, cs);
    if (index + 1u == (uint32_t)(m->window / m->k)) {
        classify(m, s2, logits);
    }
}

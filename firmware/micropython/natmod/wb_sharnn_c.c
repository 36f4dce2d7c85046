/*
 * wb_sharnn_c: the sharnn C kernel library as a MicroPython native module (natmod).
 *
 * Built with MicroPython's natmod tooling (py/dynruntime.mk) from the same firmware/sharnn sources
 * the bare-metal and Zephyr firmware use. The Python runtime (wb_sharnn.py) owns every buffer;
 * this glue only turns its descriptor tuple into a sharnn model struct on the stack and calls the
 * library, so the module has no state and allocates nothing.
 *
 * Descriptor (wb_sharnn.Model._net):
 *   (dims, in_mean, in_inv_std, l0 w_ih, w_hh, b_ih, b_hh, l1 w_ih, w_hh, b_ih, b_hh, fc_w, fc_b, scratch)
 *   dims = array('H', [quant, window, input_dim, k, num_classes, levels,
 *                      kind0, in0, hid0, shift_x0, shift_h0, q_c0, kind1, ...])
 * Per level: float32 w_ih, w_hh, b_ih, b_hh; int16 w_x, w_h, bias ([H][2][R]), None.
 * Level-1 entries are None for a single-level model; in_mean/in_inv_std None for int16 models.
 */
#include "py/dynruntime.h"

#include "sharnn.h"

/* The library uses memset/memcpy; a native module has no libc, so route them to the runtime's. */
void *memset(void *s, int c, size_t n) {
    return mp_fun_table.memset_(s, c, n);
}

void *memcpy(void *dst, const void *src, size_t n) {
    return mp_fun_table.memmove_(dst, src, n);
}

enum { D_QUANT, D_WINDOW, D_INPUT_DIM, D_K, D_CLASSES, D_LEVELS, D_CELL0, D_CELL_LEN = 6,
       D_LEN = D_CELL0 + 2 * D_CELL_LEN };
enum { N_DIMS, N_MEAN, N_INV_STD, N_CELL0, N_FC_W = N_CELL0 + 8, N_FC_B, N_SCRATCH, N_LEN };
enum { QUANT_F32 = 0, QUANT_Q15 = 1 };

static void *buffer(mp_obj_t o, size_t min_bytes) {
    mp_buffer_info_t bi;
    mp_get_buffer_raise(o, &bi, MP_BUFFER_RW);
    if (bi.len < min_bytes) {
        mp_raise_ValueError(MP_ERROR_TEXT("buffer too small"));
    }
    return bi.buf;
}

static const uint16_t *net_dims(mp_obj_t net, mp_obj_t **items) {
    size_t n;
    mp_obj_get_array(net, &n, items);
    if (n != N_LEN) {
        mp_raise_ValueError(MP_ERROR_TEXT("bad model descriptor"));
    }
    return buffer((*items)[N_DIMS], D_LEN * sizeof(uint16_t));
}

static void f32_model(const uint16_t *d, mp_obj_t *it, sharnn_f32_model_t *m, float **scratch) {
    m->window = d[D_WINDOW];
    m->input_dim = d[D_INPUT_DIM];
    m->k = d[D_K];
    m->num_classes = d[D_CLASSES];
    m->levels = (uint8_t)d[D_LEVELS];
    m->in_mean = buffer(it[N_MEAN], m->input_dim * sizeof(float));
    m->in_inv_std = buffer(it[N_INV_STD], m->input_dim * sizeof(float));
    for (int l = 0; l < m->levels; l++) {
        sharnn_f32_cell_t *c = &m->cell[l];
        const uint16_t *cd = d + D_CELL0 + D_CELL_LEN * l;
        c->kind = (uint8_t)cd[0];
        c->input_dim = cd[1];
        c->hidden_dim = cd[2];
        size_t rows = (size_t)sharnn_cell_gates(c->kind) * c->hidden_dim;
        mp_obj_t *w = it + N_CELL0 + 4 * l;
        c->w_ih = buffer(w[0], rows * c->input_dim * sizeof(float));
        c->w_hh = buffer(w[1], rows * c->hidden_dim * sizeof(float));
        c->b_ih = buffer(w[2], rows * sizeof(float));
        c->b_hh = buffer(w[3], rows * sizeof(float));
    }
    size_t top = m->cell[m->levels - 1].hidden_dim;
    m->fc_w = buffer(it[N_FC_W], (size_t)m->num_classes * top * sizeof(float));
    m->fc_b = buffer(it[N_FC_B], m->num_classes * sizeof(float));
    if (scratch) {
        *scratch = buffer(it[N_SCRATCH], sharnn_f32_scratch_len(m) * sizeof(float));
    }
}

#if WB_HAVE_Q15
static size_t even(size_t n) {
    return n + (n & 1u);
}

static void q15_model(const uint16_t *d, mp_obj_t *it, sharnn_q15_model_t *m, int16_t **scratch) {
    m->window = d[D_WINDOW];
    m->input_dim = d[D_INPUT_DIM];
    m->k = d[D_K];
    m->num_classes = d[D_CLASSES];
    m->levels = (uint8_t)d[D_LEVELS];
    for (int l = 0; l < m->levels; l++) {
        sharnn_q15_cell_t *c = &m->cell[l];
        const uint16_t *cd = d + D_CELL0 + D_CELL_LEN * l;
        c->kind = (uint8_t)cd[0];
        c->input_dim = cd[1];
        c->hidden_dim = cd[2];
        c->shift_x = (uint8_t)cd[3];
        c->shift_h = (uint8_t)cd[4];
        c->q_c = (uint8_t)cd[5];
        size_t rows = (size_t)sharnn_cell_gates(c->kind) * c->hidden_dim;
        mp_obj_t *w = it + N_CELL0 + 4 * l;
        c->w_x = buffer(w[0], rows * c->input_dim * sizeof(int16_t));
        c->w_h = buffer(w[1], rows * even(c->hidden_dim) * sizeof(int16_t));
        c->bias = buffer(w[2], 2 * rows * sizeof(int32_t));      /* [H][2][R]; w[3] unused */
    }
    size_t top = even(m->cell[m->levels - 1].hidden_dim), padded = (m->num_classes + 3u) & ~3u;
    m->fc_w = buffer(it[N_FC_W], padded * top * sizeof(int16_t));
    m->fc_b = buffer(it[N_FC_B], padded * sizeof(int32_t));
    if (scratch) {
        *scratch = buffer(it[N_SCRATCH], sharnn_q15_scratch_len(m) * sizeof(int16_t));
    }
}
#endif

static void unknown_quant(void) {
    mp_raise_ValueError(MP_ERROR_TEXT("quantization not in this build"));
}

/* scratch_len(dims) -> elements of scratch the kernel needs. */
static mp_obj_t scratch_len(mp_obj_t dims_obj) {
    const uint16_t *d = buffer(dims_obj, D_LEN * sizeof(uint16_t));
    size_t n = 0;
    if (d[D_QUANT] == QUANT_F32) {
        sharnn_f32_model_t m = { .input_dim = d[D_INPUT_DIM], .levels = (uint8_t)d[D_LEVELS] };
        for (int l = 0; l < m.levels; l++) {
            const uint16_t *cd = d + D_CELL0 + D_CELL_LEN * l;
            m.cell[l].kind = (uint8_t)cd[0];
            m.cell[l].input_dim = cd[1];
            m.cell[l].hidden_dim = cd[2];
        }
        n = sharnn_f32_scratch_len(&m);
#if WB_HAVE_Q15
    } else if (d[D_QUANT] == QUANT_Q15) {
        sharnn_q15_model_t m = { .input_dim = d[D_INPUT_DIM], .levels = (uint8_t)d[D_LEVELS] };
        for (int l = 0; l < m.levels; l++) {
            const uint16_t *cd = d + D_CELL0 + D_CELL_LEN * l;
            m.cell[l].kind = (uint8_t)cd[0];
            m.cell[l].input_dim = cd[1];
            m.cell[l].hidden_dim = cd[2];
        }
        n = sharnn_q15_scratch_len(&m);
#endif
    } else {
        unknown_quant();
    }
    return mp_obj_new_int(n);
}
static MP_DEFINE_CONST_FUN_OBJ_1(scratch_len_obj, scratch_len);

/* infer(net, x, logits): full window. */
static mp_obj_t infer(mp_obj_t net, mp_obj_t x_obj, mp_obj_t out_obj) {
    mp_obj_t *it;
    const uint16_t *d = net_dims(net, &it);
    size_t n_in = (size_t)d[D_WINDOW] * d[D_INPUT_DIM];
    if (d[D_QUANT] == QUANT_F32) {
        sharnn_f32_model_t m;
        float *scratch;
        f32_model(d, it, &m, &scratch);
        sharnn_f32_infer(&m, buffer(x_obj, n_in * sizeof(float)), buffer(out_obj, m.num_classes * sizeof(float)),
                         scratch);
#if WB_HAVE_Q15
    } else if (d[D_QUANT] == QUANT_Q15) {
        sharnn_q15_model_t m;
        int16_t *scratch;
        q15_model(d, it, &m, &scratch);
        sharnn_q15_infer(&m, buffer(x_obj, n_in * sizeof(int16_t)),
                         buffer(out_obj, m.num_classes * sizeof(int32_t)), scratch);
#endif
    } else {
        unknown_quant();
    }
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_3(infer_obj, infer);

/* stream_push(net, ring, bricks, x, logits) -> 1 when logits were written. ring = array('H',
 * [filled, head]) persists between calls in Python, so the module keeps no state of its own. */
static mp_obj_t stream_push(size_t n_args, const mp_obj_t *args) {
    mp_obj_t *it;
    const uint16_t *d = net_dims(args[0], &it);
    if (d[D_LEVELS] != 2) {
        mp_raise_ValueError(MP_ERROR_TEXT("streaming needs two levels"));
    }
    uint16_t *ring = buffer(args[1], 2 * sizeof(uint16_t));
    size_t n_in = (size_t)d[D_K] * d[D_INPUT_DIM];
    int ready = 0;
    if (d[D_QUANT] == QUANT_F32) {
        sharnn_f32_model_t m;
        float *scratch;
        f32_model(d, it, &m, &scratch);
        sharnn_f32_stream_t s;
        sharnn_f32_stream_init(&s, buffer(args[2], sharnn_f32_stream_len(&m) * sizeof(float)));
        s.filled = ring[0];
        s.head = ring[1];
        ready = sharnn_f32_stream_push(&m, &s, buffer(args[3], n_in * sizeof(float)),
                                       buffer(args[4], m.num_classes * sizeof(float)), scratch);
        ring[0] = s.filled;
        ring[1] = s.head;
#if WB_HAVE_Q15
    } else if (d[D_QUANT] == QUANT_Q15) {
        sharnn_q15_model_t m;
        int16_t *scratch;
        q15_model(d, it, &m, &scratch);
        sharnn_q15_stream_t s;
        sharnn_q15_stream_init(&s, buffer(args[2], sharnn_q15_stream_len(&m) * sizeof(int16_t)));
        s.filled = ring[0];
        s.head = ring[1];
        ready = sharnn_q15_stream_push(&m, &s, buffer(args[3], n_in * sizeof(int16_t)),
                                       buffer(args[4], m.num_classes * sizeof(int32_t)), scratch);
        ring[0] = s.filled;
        ring[1] = s.head;
#endif
    } else {
        unknown_quant();
    }
    return mp_obj_new_int(ready);
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(stream_push_obj, 5, 5, stream_push);

mp_obj_t mpy_init(mp_obj_fun_bc_t *self, size_t n_args, size_t n_kw, mp_obj_t *args) {
    MP_DYNRUNTIME_INIT_ENTRY

    mp_store_global(MP_QSTR_scratch_len, MP_OBJ_FROM_PTR(&scratch_len_obj));
    mp_store_global(MP_QSTR_infer, MP_OBJ_FROM_PTR(&infer_obj));
    mp_store_global(MP_QSTR_stream_push, MP_OBJ_FROM_PTR(&stream_push_obj));
    mp_store_global(MP_QSTR_version, MP_OBJ_NEW_SMALL_INT(SHARNN_VERSION_MAJOR * 100 + SHARNN_VERSION_MINOR));
    mp_store_global(MP_QSTR_has_q15, MP_OBJ_NEW_SMALL_INT(WB_HAVE_Q15));

    MP_DYNRUNTIME_INIT_EXIT
}

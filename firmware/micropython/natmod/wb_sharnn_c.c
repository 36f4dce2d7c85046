/*
 * wb_sharnn_c: the sharnn C kernel library as a MicroPython native module (natmod).
 *
 * Built with MicroPython's natmod tooling (py/dynruntime.mk) from the same firmware/sharnn sources
 * the bare-metal and Zephyr firmware use. The Python runtime (wb_sharnn.py) owns every buffer;
 * this glue only turns the model's descriptor into sharnn structs on the stack and calls the
 * library, so the module has no state and allocates nothing.
 *
 * net = (desc, arrays, scratch): desc an array('i') written by the exporter (workbench/export/c.py
 * descriptor(), preceded by the quantization: 0 f32, 1 q15): the model's structs as int32 words in
 * sharnn.h's field order; an array field is an index into the tuple `arrays` (-1: NULL), a float
 * its bits, a list of structs (DuRNN modules, the levels' cells) its count then its records, a
 * pointer to a struct (a stacked layer's `above`) 0, or 1 then its record. Every array is checked
 * for its element type, the descriptor for its length and counts.
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

enum { QUANT_F32 = 0, QUANT_Q15 = 1 };
/* Stacked layers and DuRNN modules a model may have in all (the structs live on the C stack). */
#define MAX_CELLS 8
#define MAX_MODULES 8

static void bad_descriptor(void) {
    mp_raise_ValueError(MP_ERROR_TEXT("bad model descriptor"));
}

static void *buffer(mp_obj_t o, size_t min_bytes, int writable) {
    mp_buffer_info_t bi;
    mp_get_buffer_raise(o, &bi, writable ? MP_BUFFER_RW : MP_BUFFER_READ);
    if (bi.len < min_bytes) {
        mp_raise_ValueError(MP_ERROR_TEXT("buffer too small"));
    }
    return bi.buf;
}

typedef struct {
    const int32_t *w, *end;
    mp_obj_t *arrays;
    size_t n_arrays;
} reader_t;

static int32_t word(reader_t *r) {
    if (r->w >= r->end) {
        bad_descriptor();
    }
    return *r->w++;
}

static float word_f32(reader_t *r) {
    union {
        int32_t i;
        float f;
    } u = { word(r) };
    return u.f;
}

/* An array field: NULL, or the data of arrays[index], whose typecode must be `tc`. */
static const void *tensor(reader_t *r, char tc) {
    const int32_t i = word(r);
    if (i < 0) {
        return NULL;
    }
    if ((size_t)i >= r->n_arrays) {
        bad_descriptor();
    }
    mp_buffer_info_t bi;
    mp_get_buffer_raise(r->arrays[i], &bi, MP_BUFFER_READ);
    if (bi.typecode != tc) {
        bad_descriptor();
    }
    return bi.buf;
}

/* A count of records (0 or 1 for a pointer) that must fit the `cap - used` slots left. */
static size_t count(reader_t *r, size_t used, size_t cap) {
    const int32_t n = word(r);
    if (n < 0 || used + (size_t)n > cap) {
        bad_descriptor();
    }
    return (size_t)n;
}

/* The model's header words: window, input_dim, k, num_classes, levels; the levels checked. */
#define READ_SHAPE(r, m)                                                                  \
    do {                                                                                  \
        (m)->window = (uint16_t)word(r);                                                  \
        (m)->input_dim = (uint16_t)word(r);                                               \
        (m)->k = (uint16_t)word(r);                                                       \
        (m)->num_classes = (uint16_t)word(r);                                             \
        (m)->levels = (uint8_t)word(r);                                                   \
        if ((m)->levels < 1 || (m)->levels > 2 || (m)->k == 0 || (m)->window % (m)->k) { \
            bad_descriptor();                                                             \
        }                                                                                 \
    } while (0)

static void reader_init(reader_t *r, mp_obj_t desc, mp_obj_t arrays, int32_t *quant) {
    mp_buffer_info_t bi;
    mp_get_buffer_raise(desc, &bi, MP_BUFFER_READ);
    if (bi.typecode != 'i' || bi.len < 4) {
        bad_descriptor();
    }
    r->w = bi.buf;
    r->end = r->w + bi.len / 4;
    mp_obj_get_array(arrays, &r->n_arrays, &r->arrays);
    *quant = word(r);
}

/* ---- float32 */

typedef struct {
    sharnn_f32_model_t m;
    sharnn_f32_cell_t cells[MAX_CELLS];
    sharnn_f32_durnn_module_t modules[MAX_MODULES];
    size_t n_cells, n_modules;
} f32_net_t;

static void f32_cell(reader_t *r, f32_net_t *n, sharnn_f32_cell_t *c) {
    c->kind = (uint8_t)word(r);
    c->input_dim = (uint16_t)word(r);
    c->hidden_dim = (uint16_t)word(r);
    c->w_x = tensor(r, 'f');
    c->b_x = tensor(r, 'f');
    c->w_h = tensor(r, 'f');
    c->b_h = tensor(r, 'f');
    c->aux = tensor(r, 'f');
    c->param[0] = word_f32(r);
    c->param[1] = word_f32(r);
    const size_t modules = count(r, n->n_modules, MAX_MODULES);
    c->modules = modules ? &n->modules[n->n_modules] : NULL;
    c->num_modules = (uint8_t)modules;
    for (size_t i = 0; i < modules; i++) {
        sharnn_f32_durnn_module_t *d = &n->modules[n->n_modules++];
        d->input_dim = (uint16_t)word(r);
        d->short_dim = (uint16_t)word(r);
        d->hidden_dim = (uint16_t)word(r);
        d->relu = (uint8_t)word(r);
        d->w_x = tensor(r, 'f');
        d->b_x = tensor(r, 'f');
        d->u_ss = tensor(r, 'f');
        d->w_gs = tensor(r, 'f');
        d->w_ls = tensor(r, 'f');
        d->b_l = tensor(r, 'f');
        d->u = tensor(r, 'f');
    }
    c->above = NULL;
    if (count(r, n->n_cells, MAX_CELLS)) {
        sharnn_f32_cell_t *a = &n->cells[n->n_cells++];
        f32_cell(r, n, a);
        c->above = a;
    }
}

static void f32_read(reader_t *r, f32_net_t *n) {
    sharnn_f32_model_t *m = &n->m;
    n->n_cells = n->n_modules = 0;
    READ_SHAPE(r, m);
    m->in_mean = tensor(r, 'f');
    m->in_inv_std = tensor(r, 'f');
    if (word(r) != m->levels) {
        bad_descriptor();
    }
    for (int l = 0; l < m->levels; l++) {
        f32_cell(r, n, &m->cell[l]);
    }
    m->fc_w = tensor(r, 'f');
    m->fc_b = tensor(r, 'f');
    if (r->w != r->end) {
        bad_descriptor();
    }
}

/* ---- int16 */

#if WB_HAVE_Q15
typedef struct {
    sharnn_q15_model_t m;
    sharnn_q15_cell_t cells[MAX_CELLS];
    sharnn_q15_durnn_module_t modules[MAX_MODULES];
    size_t n_cells, n_modules;
} q15_net_t;

static void q15_cell(reader_t *r, q15_net_t *n, sharnn_q15_cell_t *c) {
    c->kind = (uint8_t)word(r);
    c->shift_x = (uint8_t)word(r);
    c->shift_h = (uint8_t)word(r);
    c->q_c = (uint8_t)word(r);
    c->q_h = (uint8_t)word(r);
    c->input_dim = (uint16_t)word(r);
    c->hidden_dim = (uint16_t)word(r);
    c->w_x = tensor(r, 'h');
    c->w_h = tensor(r, 'h');
    c->bias = tensor(r, 'i');
    c->aux = tensor(r, 'i');
    c->param[0] = (int16_t)word(r);
    c->param[1] = (int16_t)word(r);
    const size_t modules = count(r, n->n_modules, MAX_MODULES);
    c->modules = modules ? &n->modules[n->n_modules] : NULL;
    c->num_modules = (uint8_t)modules;
    for (size_t i = 0; i < modules; i++) {
        sharnn_q15_durnn_module_t *d = &n->modules[n->n_modules++];
        d->input_dim = (uint16_t)word(r);
        d->short_dim = (uint16_t)word(r);
        d->hidden_dim = (uint16_t)word(r);
        d->shift_sx = (uint8_t)word(r);
        d->shift_ss = (uint8_t)word(r);
        d->shift_gx = (uint8_t)word(r);
        d->shift_gs = (uint8_t)word(r);
        d->shift_l = (uint8_t)word(r);
        d->q_l = (uint8_t)word(r);
        d->relu = (uint8_t)word(r);
        d->w_sx = tensor(r, 'h');
        d->u_ss = tensor(r, 'h');
        d->w_gx = tensor(r, 'h');
        d->w_gs = tensor(r, 'h');
        d->w_ls = tensor(r, 'h');
        d->b_s = tensor(r, 'i');
        d->b_g = tensor(r, 'i');
        d->b_l = tensor(r, 'i');
        d->u = tensor(r, 'h');
    }
    c->above = NULL;
    if (count(r, n->n_cells, MAX_CELLS)) {
        sharnn_q15_cell_t *a = &n->cells[n->n_cells++];
        q15_cell(r, n, a);
        c->above = a;
    }
}

static void q15_read(reader_t *r, q15_net_t *n) {
    sharnn_q15_model_t *m = &n->m;
    n->n_cells = n->n_modules = 0;
    READ_SHAPE(r, m);
    if (word(r) != m->levels) {
        bad_descriptor();
    }
    for (int l = 0; l < m->levels; l++) {
        q15_cell(r, n, &m->cell[l]);
    }
    m->fc_w = tensor(r, 'h');
    m->fc_b = tensor(r, 'i');
    if (r->w != r->end) {
        bad_descriptor();
    }
}
#endif

typedef union {
    f32_net_t f32;
#if WB_HAVE_Q15
    q15_net_t q15;
#endif
} net_t;

static void unknown_quant(void) {
    mp_raise_ValueError(MP_ERROR_TEXT("quantization not in this build"));
}

/* The model of desc, read into n; returns the quantization. */
static int32_t read_model(mp_obj_t desc, mp_obj_t arrays, net_t *n) {
    reader_t r;
    int32_t quant;
    reader_init(&r, desc, arrays, &quant);
    if (quant == QUANT_F32) {
        f32_read(&r, &n->f32);
#if WB_HAVE_Q15
    } else if (quant == QUANT_Q15) {
        q15_read(&r, &n->q15);
#endif
    } else {
        unknown_quant();
    }
    return quant;
}

/* lens(desc, arrays) -> (scratch elements, stream ring elements) the kernel needs. */
static mp_obj_t lens(mp_obj_t desc, mp_obj_t arrays) {
    net_t n;
    size_t scratch = 0, ring = 0;
    if (read_model(desc, arrays, &n) == QUANT_F32) {
        scratch = sharnn_f32_scratch_len(&n.f32.m);
        ring = n.f32.m.levels == 2 ? sharnn_f32_stream_len(&n.f32.m) : 0;
    } else {
#if WB_HAVE_Q15
        scratch = sharnn_q15_scratch_len(&n.q15.m);
        ring = n.q15.m.levels == 2 ? sharnn_q15_stream_len(&n.q15.m) : 0;
#endif
    }
    mp_obj_t out[2] = { mp_obj_new_int(scratch), mp_obj_new_int(ring) };
    return mp_obj_new_tuple(2, out);
}
static MP_DEFINE_CONST_FUN_OBJ_2(lens_obj, lens);

/* net = (desc, arrays, scratch): the model read into n; returns the quantization. */
static int32_t read_net(mp_obj_t net, net_t *n, mp_obj_t *scratch) {
    size_t len;
    mp_obj_t *items;
    mp_obj_get_array(net, &len, &items);
    if (len != 3) {
        bad_descriptor();
    }
    *scratch = items[2];
    return read_model(items[0], items[1], n);
}

/* infer(net, x, logits): full window. */
static mp_obj_t infer(mp_obj_t net, mp_obj_t x_obj, mp_obj_t out_obj) {
    net_t n;
    mp_obj_t scratch;
    if (read_net(net, &n, &scratch) == QUANT_F32) {
        const sharnn_f32_model_t *m = &n.f32.m;
        sharnn_f32_infer(m, buffer(x_obj, (size_t)m->window * m->input_dim * sizeof(float), 0),
                         buffer(out_obj, m->num_classes * sizeof(float), 1),
                         buffer(scratch, sharnn_f32_scratch_len(m) * sizeof(float), 1));
#if WB_HAVE_Q15
    } else {
        const sharnn_q15_model_t *m = &n.q15.m;
        sharnn_q15_infer(m, buffer(x_obj, (size_t)m->window * m->input_dim * sizeof(int16_t), 0),
                         buffer(out_obj, m->num_classes * sizeof(int32_t), 1),
                         buffer(scratch, sharnn_q15_scratch_len(m) * sizeof(int16_t), 1));
#endif
    }
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_3(infer_obj, infer);

/* stream_push(net, ring, bricks, x, logits) -> 1 when logits were written. ring = array('H',
 * [filled, head]) persists between calls in Python, so the module keeps no state of its own. */
static mp_obj_t stream_push(size_t n_args, const mp_obj_t *args) {
    net_t n;
    mp_obj_t scratch;
    const int32_t quant = read_net(args[0], &n, &scratch);
    uint16_t *ring = buffer(args[1], 2 * sizeof(uint16_t), 1);
    int ready = 0;
    if (quant == QUANT_F32) {
        const sharnn_f32_model_t *m = &n.f32.m;
        if (m->levels != 2) {
            mp_raise_ValueError(MP_ERROR_TEXT("streaming needs two levels"));
        }
        sharnn_f32_stream_t s;
        sharnn_f32_stream_init(&s, buffer(args[2], sharnn_f32_stream_len(m) * sizeof(float), 1));
        s.filled = ring[0];
        s.head = ring[1];
        ready = sharnn_f32_stream_push(m, &s, buffer(args[3], (size_t)m->k * m->input_dim * sizeof(float), 0),
                                       buffer(args[4], m->num_classes * sizeof(float), 1),
                                       buffer(scratch, sharnn_f32_scratch_len(m) * sizeof(float), 1));
        ring[0] = s.filled;
        ring[1] = s.head;
#if WB_HAVE_Q15
    } else {
        const sharnn_q15_model_t *m = &n.q15.m;
        if (m->levels != 2) {
            mp_raise_ValueError(MP_ERROR_TEXT("streaming needs two levels"));
        }
        sharnn_q15_stream_t s;
        sharnn_q15_stream_init(&s, buffer(args[2], sharnn_q15_stream_len(m) * sizeof(int16_t), 1));
        s.filled = ring[0];
        s.head = ring[1];
        ready = sharnn_q15_stream_push(m, &s, buffer(args[3], (size_t)m->k * m->input_dim * sizeof(int16_t), 0),
                                       buffer(args[4], m->num_classes * sizeof(int32_t), 1),
                                       buffer(scratch, sharnn_q15_scratch_len(m) * sizeof(int16_t), 1));
        ring[0] = s.filled;
        ring[1] = s.head;
#endif
    }
    return mp_obj_new_int(ready);
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(stream_push_obj, 5, 5, stream_push);

mp_obj_t mpy_init(mp_obj_fun_bc_t *self, size_t n_args, size_t n_kw, mp_obj_t *args) {
    MP_DYNRUNTIME_INIT_ENTRY

    mp_store_global(MP_QSTR_lens, MP_OBJ_FROM_PTR(&lens_obj));
    mp_store_global(MP_QSTR_infer, MP_OBJ_FROM_PTR(&infer_obj));
    mp_store_global(MP_QSTR_stream_push, MP_OBJ_FROM_PTR(&stream_push_obj));
    mp_store_global(MP_QSTR_version, MP_OBJ_NEW_SMALL_INT(SHARNN_VERSION_MAJOR * 100 + SHARNN_VERSION_MINOR));
    mp_store_global(MP_QSTR_has_q15, MP_OBJ_NEW_SMALL_INT(WB_HAVE_Q15));

    MP_DYNRUNTIME_INIT_EXIT
}

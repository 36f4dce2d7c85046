/*
 * wb_model.h - the model glue the runner calls: one implementation per quantization
 * (wb_model_f32.c, ...), built with the exporter's wb_model_config.h and wb_model_data.c.
 * The glue owns every model buffer, statically sized from the generated config.
 */
#ifndef WB_MODEL_H
#define WB_MODEL_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint8_t hash[8];          /* first 8 bytes of the model file's content hash */
    uint16_t window;          /* T */
    uint16_t input_dim;       /* D as the device takes it (int plans pad an odd D to even) */
    uint16_t k;               /* brick length */
    uint16_t num_classes;
    uint8_t levels;
    uint8_t input_dtype;      /* WB_DTYPE_* */
    uint8_t output_dtype;
    uint8_t input_elem_bytes;
    uint8_t output_elem_bytes;
    uint8_t caps;             /* WB_CAP_* the glue supports (infer, stream, dsp, fpu) */
    uint32_t state_bytes;     /* static RAM of the model: stream ring + scratch (+ core 1's buffers) */
    uint8_t cores;            /* cores an inference runs on (WB_CORES) */
    uint8_t core0_bricks;     /* two cores: bricks of a window on core 0 (wb_parallel.h) */
} wb_model_info_t;

#ifndef WB_CORES
#define WB_CORES 1
#endif
#if WB_CORES == 2
#include "wb_parallel.h"
#define WB_MODEL_CORE0_BRICKS                                                                              \
    WB_PAR_CORE0_BRICKS(WB_MODEL_WINDOW / WB_MODEL_K, WB_MODEL_K * WB_MODEL_STEP_MACS_LOWER, WB_MODEL_STEP_MACS_UPPER)
#else
#define WB_MODEL_CORE0_BRICKS 0
#endif

extern const wb_model_info_t wb_model_info;

/* The initializer every glue uses (needs wb_model_config.h and wb_proto.h): the fields that come from
 * the generated config, the element types of this quantization, extra capability bits, and the
 * static buffers the model state is made of. */
#define WB_MODEL_INFO_INIT(in_dtype, out_dtype, in_bytes, out_bytes, extra_caps, state)            \
    {                                                                                             \
        .hash = WB_MODEL_HASH_BYTES, .window = WB_MODEL_WINDOW, .input_dim = WB_MODEL_INPUT_DIM, \
        .k = WB_MODEL_K, .num_classes = WB_MODEL_NUM_CLASSES, .levels = WB_MODEL_LEVELS,          \
        .input_dtype = (in_dtype), .output_dtype = (out_dtype), .input_elem_bytes = (in_bytes),  \
        .output_elem_bytes = (out_bytes),                                                        \
        .caps = WB_CAP_INFER | (WB_MODEL_LEVELS == 2 ? WB_CAP_STREAM : 0) | (extra_caps),        \
        .state_bytes = (state), .cores = WB_CORES, .core0_bricks = WB_MODEL_CORE0_BRICKS,          \
    }

void wb_model_init(void);
/* window: T*D input elements; logits: num_classes output elements. */
void wb_model_infer(const void *window, void *logits);
/* brick: k*D input elements. Returns 1 and writes logits once the window is full. */
int wb_model_stream_push(const void *brick, void *logits);
void wb_model_stream_reset(void);

#endif /* WB_MODEL_H */

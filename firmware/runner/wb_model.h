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
    uint16_t input_dim;       /* D */
    uint16_t k;               /* brick length */
    uint16_t num_classes;
    uint8_t levels;
    uint8_t input_dtype;      /* WB_DTYPE_* */
    uint8_t output_dtype;
    uint8_t input_elem_bytes;
    uint8_t output_elem_bytes;
    uint8_t caps;             /* WB_CAP_* the glue supports (infer, stream, dsp, fpu) */
    uint32_t state_bytes;     /* static RAM of the model: stream ring + scratch */
} wb_model_info_t;

extern const wb_model_info_t wb_model_info;

void wb_model_init(void);
/* window: T*D input elements; logits: num_classes output elements. */
void wb_model_infer(const void *window, void *logits);
/* brick: k*D input elements. Returns 1 and writes logits once the window is full. */
int wb_model_stream_push(const void *brick, void *logits);
void wb_model_stream_reset(void);

#endif /* WB_MODEL_H */

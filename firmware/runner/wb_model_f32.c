/* Model glue for float32 models: static buffers sized by the exporter's wb_model_config.h. */
#include "wb_model.h"

#include "sharnn.h"
#include "wb_model_config.h"
#include "wb_proto.h"

extern const sharnn_f32_model_t wb_net;

float wb_model_scratch[WB_MODEL_SCRATCH_LEN];   /* global: the ELF reports its size */
float wb_model_stream_ring[WB_MODEL_STREAM_LEN];
static sharnn_f32_stream_t stream;

const wb_model_info_t wb_model_info = {
    .hash = WB_MODEL_HASH_BYTES,
    .window = WB_MODEL_WINDOW,
    .input_dim = WB_MODEL_INPUT_DIM,
    .k = WB_MODEL_K,
    .num_classes = WB_MODEL_NUM_CLASSES,
    .levels = WB_MODEL_LEVELS,
    .input_dtype = WB_DTYPE_F32,
    .output_dtype = WB_DTYPE_F32,
    .input_elem_bytes = 4,
    .output_elem_bytes = 4,
    .caps = WB_CAP_INFER | (WB_MODEL_LEVELS == 2 ? WB_CAP_STREAM : 0),
    .state_bytes = sizeof wb_model_scratch + sizeof wb_model_stream_ring,
};

void wb_model_init(void)
{
    sharnn_f32_stream_init(&stream, wb_model_stream_ring);
}

void wb_model_infer(const void *window, void *logits)
{
    sharnn_f32_infer(&wb_net, (const float *)window, (float *)logits, wb_model_scratch);
}

int wb_model_stream_push(const void *brick, void *logits)
{
    return sharnn_f32_stream_push(&wb_net, &stream, (const float *)brick, (float *)logits, wb_model_scratch);
}

void wb_model_stream_reset(void)
{
    sharnn_f32_stream_init(&stream, wb_model_stream_ring);
}

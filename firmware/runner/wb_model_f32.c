/* Model glue for float32 models: static buffers sized by the exporter's wb_model_config.h. */
#include "wb_model.h"

#include "sharnn.h"
#include "wb_model_config.h"
#include "wb_proto.h"

extern const sharnn_f32_model_t wb_net;

float wb_model_scratch[WB_MODEL_SCRATCH_LEN];   /* global: the ELF reports its size */
float wb_model_stream_ring[WB_MODEL_STREAM_LEN];
static sharnn_f32_stream_t stream;

const wb_model_info_t wb_model_info = WB_MODEL_INFO_INIT(WB_DTYPE_F32, WB_DTYPE_F32, 4, 4, 0,
                                                        sizeof wb_model_scratch + sizeof wb_model_stream_ring);

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

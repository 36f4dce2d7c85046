/* Model glue for float32 models: static buffers sized by the exporter's wb_model_config.h. */
#include "wb_model.h"

#include "sharnn.h"
#include "wb_model_config.h"
#include "wb_proto.h"

extern const sharnn_f32_model_t wb_net;

float wb_model_scratch[WB_MODEL_SCRATCH_LEN];   /* global: the ELF reports its size */
float wb_model_stream_ring[WB_MODEL_STREAM_LEN];
static sharnn_f32_stream_t stream;

#if WB_CORES == 2
#define WB_PAR_ELEM float
#define WB_PAR_WORD float
#define WB_PAR_OUT float
#define WB_PAR_BRICKS sharnn_f32_bricks
#define WB_PAR_UPPER_STEP sharnn_f32_upper_step
#include "wb_model_parallel.h"
#else
#define WB_PAR_STATE_BYTES 0u
#endif

const wb_model_info_t wb_model_info = WB_MODEL_INFO_INIT(WB_DTYPE_F32, WB_DTYPE_F32, 4, 4, 0,
                                                        sizeof wb_model_scratch + sizeof wb_model_stream_ring +
                                                            WB_PAR_STATE_BYTES);

void wb_model_init(void)
{
    sharnn_f32_stream_init(&stream, wb_model_stream_ring);
#if WB_CORES == 2
    wb_par_init(&par_plan);
#endif
}

void wb_model_infer(const void *window, void *logits)
{
#if WB_CORES == 2
    par_infer(window, logits);
#else
    sharnn_f32_infer(&wb_net, (const float *)window, (float *)logits, wb_model_scratch);
#endif
}

int wb_model_stream_push(const void *brick, void *logits)
{
    return sharnn_f32_stream_push(&wb_net, &stream, (const float *)brick, (float *)logits, wb_model_scratch);
}

void wb_model_stream_reset(void)
{
    sharnn_f32_stream_init(&stream, wb_model_stream_ring);
}

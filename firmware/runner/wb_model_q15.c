/* Model glue for int16 (q15) models: inputs int16 in Q(WB_MODEL_Q_IN), already normalised by the
 * host; logits int32 in Q(WB_MODEL_Q_OUT). Static buffers sized by the exporter's wb_model_config.h. */
#include "wb_model.h"

#include "sharnn.h"
#include "wb_model_config.h"
#include "wb_proto.h"

extern const sharnn_q15_model_t wb_net;

/* int32 storage: the kernel loads vector pairs with word loads (4-byte alignment). */
int32_t wb_model_scratch[(WB_MODEL_SCRATCH_LEN + 1) / 2];   /* global: the ELF reports its size */
int32_t wb_model_stream_ring[(WB_MODEL_STREAM_LEN + 1) / 2];
static sharnn_q15_stream_t stream;

#if WB_CORES == 2
#define WB_PAR_ELEM int16_t
#define WB_PAR_WORD int32_t
#define WB_PAR_OUT int32_t
#define WB_PAR_BRICKS sharnn_q15_bricks
#define WB_PAR_UPPER_STEP sharnn_q15_upper_step
#include "wb_model_parallel.h"
#else
#define WB_PAR_STATE_BYTES 0u
#endif

#if defined(__ARM_FEATURE_DSP) && !defined(SHARNN_PORTABLE)
#define KERNEL_CAPS WB_CAP_DSP     /* the kernel runs its SMLAD path */
#else
#define KERNEL_CAPS 0
#endif

const wb_model_info_t wb_model_info = WB_MODEL_INFO_INIT(WB_DTYPE_I16, WB_DTYPE_I32, 2, 4, KERNEL_CAPS,
                                                        sizeof wb_model_scratch + sizeof wb_model_stream_ring +
                                                            WB_PAR_STATE_BYTES);

void wb_model_init(void)
{
    sharnn_q15_stream_init(&stream, (int16_t *)wb_model_stream_ring);
#if WB_CORES == 2
    wb_par_init(&par_plan);
#endif
}

void wb_model_infer(const void *window, void *logits)
{
#if WB_CORES == 2
    par_infer(window, logits);
#else
    sharnn_q15_infer(&wb_net, (const int16_t *)window, (int32_t *)logits, (int16_t *)wb_model_scratch);
#endif
}

int wb_model_stream_push(const void *brick, void *logits)
{
    return sharnn_q15_stream_push(&wb_net, &stream, (const int16_t *)brick, (int32_t *)logits,
                                  (int16_t *)wb_model_scratch);
}

void wb_model_stream_reset(void)
{
    sharnn_q15_stream_init(&stream, (int16_t *)wb_model_stream_ring);
}

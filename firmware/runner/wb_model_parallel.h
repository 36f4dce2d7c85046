/*
 * wb_model_parallel.h - the two-core part of a model glue (WB_CORES == 2): included by
 * wb_model_f32.c and wb_model_q15.c after they define
 *   WB_PAR_ELEM          element of inputs and brick outputs (float, int16_t)
 *   WB_PAR_WORD          storage type of the static buffers (float; int32_t for 4-byte alignment)
 *   WB_PAR_OUT           element of the logits (float, int32_t)
 *   WB_PAR_BRICKS, WB_PAR_UPPER_STEP   the kernel's k-wise entry points (sharnn_*_bricks, _upper_step)
 * Memory (static, reported by the ELF): core 1's own kernel scratch and the brick outputs of a window
 * (the size of the stream ring); core 0 uses the glue's wb_model_scratch.
 */
#ifndef WB_MODEL_PARALLEL_H
#define WB_MODEL_PARALLEL_H

#include "wb_parallel.h"

_Static_assert(WB_MODEL_LEVELS == 2, "two cores split a ShaRNN's bricks: a single-level model has none");

#define WB_PAR_WORDS(len) (((len) * sizeof(WB_PAR_ELEM) + sizeof(WB_PAR_WORD) - 1u) / sizeof(WB_PAR_WORD))
#define WB_PAR_BRICK_LEN (WB_MODEL_STREAM_LEN / (WB_MODEL_WINDOW / WB_MODEL_K))  /* H1 (int16: even) */

WB_PAR_WORD wb_model_core1_scratch[WB_PAR_WORDS(WB_MODEL_SCRATCH_LEN)];
WB_PAR_WORD wb_model_bricks[WB_PAR_WORDS(WB_MODEL_STREAM_LEN)];
#define WB_PAR_STATE_BYTES (sizeof wb_model_core1_scratch + sizeof wb_model_bricks)

static const WB_PAR_ELEM *par_window;
static WB_PAR_OUT *par_logits;

static void par_lower(uint32_t core, uint32_t first, uint32_t count)
{
    WB_PAR_BRICKS(&wb_net, par_window + (size_t)first * WB_MODEL_K * WB_MODEL_INPUT_DIM, count,
                  (WB_PAR_ELEM *)wb_model_bricks + (size_t)first * WB_PAR_BRICK_LEN,
                  (WB_PAR_ELEM *)(core != 0u ? wb_model_core1_scratch : wb_model_scratch));
}

static void par_upper(uint32_t index)
{
    WB_PAR_UPPER_STEP(&wb_net, (const WB_PAR_ELEM *)wb_model_bricks + (size_t)index * WB_PAR_BRICK_LEN, index,
                      par_logits, (WB_PAR_ELEM *)wb_model_scratch);
}

static const wb_par_plan_t par_plan = {
    .bricks = WB_MODEL_WINDOW / WB_MODEL_K,
    .core0_bricks = WB_MODEL_CORE0_BRICKS,
    .lower = par_lower,
    .upper = par_upper,
};

static void par_infer(const void *window, void *logits)
{
    par_window = (const WB_PAR_ELEM *)window;
    par_logits = (WB_PAR_OUT *)logits;
    wb_par_infer();
}

#endif /* WB_MODEL_PARALLEL_H */

/*
 * Streaming ShaRNN on two cores, the pipelined schedule (bench/parallel_bench.py runs it under QEMU
 * with the instruction-count plugin counting each vCPU apart): while core 0 runs the upper level for
 * the window ending at brick n, core 1 computes brick n+1. Built with APP=parbench CORES=2 and an
 * exported ShaRNN model (MODEL_DIR), float32 or int16.
 *
 * 1. One core: STREAM_BRICKS bricks through sharnn_*_stream_push on core 0, one count each (a brick,
 *    plus the upper level once the window is full).
 * 2. Two cores, the same bricks: core 1 computes brick m into slot m % (T/k + 1) of a ring one brick
 *    longer than a window (so the brick it writes is never one the upper level still reads) and
 *    counts it; core 0 waits for brick n, then runs the upper level over the window ending at it and
 *    counts that. Core 1 may start brick m > T/k once the window ending at brick m-2 is done (the
 *    last reader of the slot it overwrites).
 * Lines per vCPU: core 0 STREAM_BRICKS pushes then STREAM_BRICKS - T/k + 1 upper levels; core 1
 * STREAM_BRICKS bricks. Exit code (semihosting) 0 when every window's logits of 2. equal those of 1.
 * bit for bit, 1 otherwise.
 *
 * Inputs: a fixed pseudo-random stream (counts depend on the shapes, barely on the values).
 */
#include <stdint.h>
#include <string.h>

#include "sharnn.h"
#include "wb_count.h"
#include "wb_model_config.h"
#include "wb_port.h"

#define NB (WB_MODEL_WINDOW / WB_MODEL_K)
#define STREAM_BRICKS (2 * NB + 4)
#define WINDOWS (STREAM_BRICKS - NB + 1)
#define STEP (WB_MODEL_K * WB_MODEL_INPUT_DIM)   /* input elements per brick */
#define H1 (WB_MODEL_STREAM_LEN / NB)             /* brick output elements (int16: even) */

#if WB_MODEL_QUANT_F32
typedef float elem_t;
typedef float word_t;
typedef float out_t;
extern const sharnn_f32_model_t wb_net;
#define STREAM_T sharnn_f32_stream_t
#define STREAM_INIT sharnn_f32_stream_init
#define STREAM_PUSH sharnn_f32_stream_push
#define BRICKS sharnn_f32_bricks
#define UPPER_STEP sharnn_f32_upper_step
static elem_t input_value(uint32_t r) { return (float)(int32_t)(r >> 16) * (1.0f / 16384.0f); }
#else
typedef int16_t elem_t;
typedef int32_t word_t;                          /* 4-byte alignment for the kernel's word loads */
typedef int32_t out_t;
extern const sharnn_q15_model_t wb_net;
#define STREAM_T sharnn_q15_stream_t
#define STREAM_INIT sharnn_q15_stream_init
#define STREAM_PUSH sharnn_q15_stream_push
#define BRICKS sharnn_q15_bricks
#define UPPER_STEP sharnn_q15_upper_step
static elem_t input_value(uint32_t r) { return (int16_t)((int32_t)(r >> 16) >> (15 - WB_MODEL_Q_IN)); }
#endif

#define WORDS(n) (((n) * sizeof(elem_t) + sizeof(word_t) - 1u) / sizeof(word_t))

static word_t input[WORDS(STREAM_BRICKS * STEP)];
static word_t scratch0[WORDS(WB_MODEL_SCRATCH_LEN)], scratch1[WORDS(WB_MODEL_SCRATCH_LEN)];
static word_t ring1[WORDS(WB_MODEL_STREAM_LEN)];              /* 1.: the kernel's stream ring */
static word_t ring2[WORDS((NB + 1) * H1)];                    /* 2.: one brick longer */
static out_t logits1[WINDOWS][WB_MODEL_NUM_CLASSES], logits2[WINDOWS][WB_MODEL_NUM_CLASSES];

static volatile uint32_t bricks_done;    /* core 1: bricks of the stream finished */
static volatile int32_t windows_done;    /* core 0: last brick of the last window finished, -1 none */

static inline void dmb(void) { __asm volatile("dmb" ::: "memory"); }

static const elem_t *brick_input(uint32_t m) { return (const elem_t *)input + (size_t)m * STEP; }
static elem_t *slot(uint32_t m) { return (elem_t *)ring2 + (size_t)(m % (NB + 1u)) * H1; }

static void core1_main(void)
{
    for (uint32_t m = 0; m < STREAM_BRICKS; m++) {
        while (m > NB && (int32_t)m - 2 > windows_done) {
            wb_port_event_wait();
        }
        dmb();
        wb_count_begin();
        BRICKS(&wb_net, brick_input(m), 1u, slot(m), (elem_t *)scratch1);
        wb_count_end();
        dmb();
        bricks_done = m + 1u;
        wb_port_event_send();
    }
}

int main(void)
{
    uint32_t r = 12345u;
    for (uint32_t i = 0; i < STREAM_BRICKS * STEP; i++) {
        r = r * 1664525u + 1013904223u;
        ((elem_t *)input)[i] = input_value(r);
    }

    STREAM_T stream;
    STREAM_INIT(&stream, (elem_t *)ring1);
    for (uint32_t m = 0; m < STREAM_BRICKS; m++) {
        out_t *out = logits1[m + 1u >= NB ? m + 1u - NB : 0];
        wb_count_begin();
        STREAM_PUSH(&wb_net, &stream, brick_input(m), out, (elem_t *)scratch0);
        wb_count_end();
    }

    windows_done = -1;
    dmb();
    wb_port_core1_start(core1_main);
    for (uint32_t n = NB - 1u; n < STREAM_BRICKS; n++) {
        while (bricks_done <= n) {
            wb_port_event_wait();
        }
        dmb();
        wb_count_begin();
        for (uint32_t b = 0; b < NB; b++) {
            UPPER_STEP(&wb_net, slot(n + 1u - NB + b), b, logits2[n + 1u - NB], (elem_t *)scratch0);
        }
        wb_count_end();
        dmb();
        windows_done = (int32_t)n;
        wb_port_event_send();
    }
    return memcmp(logits1, logits2, sizeof logits1) != 0;
}

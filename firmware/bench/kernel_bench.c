/*
 * Kernel benchmark firmware: the int16 recurrent matrix-vector core (sharnn_q15_matvec) on the
 * shapes of the keyword-spotting ShaRNN, each call between the instruction-count markers. The host
 * (bench/kernel_bench.py) runs it under QEMU with our counting plugin and divides by the MACs.
 * Weights live in flash as in the real firmware; their values do not change the instruction count.
 * Exit code 0 (semihosting) when done.
 */
#include <stdint.h>

#include "sharnn.h"
#include "wb_count.h"

#define MAX_ROWS 128
#define MAX_COLS 32

/* The order of cases is the order of the plugin's counts: bench/kernel_bench.py CORE_CASES. */
static const struct {
    uint16_t rows, block_rows, cols;
} cases[] = {
    { 128, 4, 32 },   /* LSTM H=32: W_ih over 32 features, W_hh over h */
    { 64, 4, 32 },    /* LSTM H=16 (upper): W_ih over the 32 brick outputs */
    { 64, 4, 16 },    /* LSTM H=16 (upper): W_hh */
    { 96, 3, 32 },    /* GRU H=32 */
    { 48, 3, 16 },    /* GRU H=16: W_hh */
};

static const int16_t weights[MAX_ROWS * MAX_COLS] __attribute__((aligned(4))) = { 1 };
static int16_t vec[MAX_COLS] __attribute__((aligned(4)));
int32_t bench_acc[MAX_ROWS];   /* global: the calls cannot be optimised away */

int main(void)
{
    for (unsigned i = 0; i < MAX_COLS; i++) {
        vec[i] = (int16_t)(i * 1001);
    }
    for (unsigned c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        wb_count_begin();
        sharnn_q15_matvec(weights, vec, cases[c].rows, cases[c].block_rows, cases[c].cols, bench_acc);
        wb_count_end();
    }
    return 0;
}

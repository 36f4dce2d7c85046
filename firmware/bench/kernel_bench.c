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

#if defined(__ARM_FEATURE_DSP) && !defined(SHARNN_PORTABLE)
/*
 * The experiment behind "int8 weights where they pay": the same 4-row block product with int8
 * weights (int16 vector, int32 sums). The M4 has no 8-bit dual MAC, so each word of four weights
 * is widened by two SXTB16 (bytes stored w0 w2 w1 w3 at export, so the halves pair with the vector
 * pairs) before its two SMLADs: per 4 columns of 4 rows, 2 LDR + LDM + 8 SXTB16 + 8 SMLAD (all 14
 * registers are in use, so the vector comes in by single words). Not in the library: the benchmark
 * prints its cost next to the int16 path's.
 */
static const int8_t weights_q7[MAX_ROWS * MAX_COLS] __attribute__((aligned(4))) = { 1 };

static void matvec_q7_rows4(const int8_t *w, const int16_t *v, uint32_t rows, uint32_t cols, int32_t *acc)
{
    for (int32_t *end = acc + rows; acc < end; acc += 4) {
        const int16_t *vp = v;
        uint32_t quads = cols >> 2, x0;
        __asm volatile(
            "ldm %[acc], {r4, r5, r6, r7}\n"
            "1:\n\t"
            "ldr %[x0], [%[v]], #4\n\t"
            "ldmia %[w]!, {r8, r9, r10, r11}\n\t"
            "sxtb16 r12, r8\n\t" "smlad r4, r12, %[x0], r4\n\t" "sxtb16 r8, r8, ror #8\n\t"
            "sxtb16 r12, r9\n\t" "smlad r5, r12, %[x0], r5\n\t" "sxtb16 r9, r9, ror #8\n\t"
            "sxtb16 r12, r10\n\t" "smlad r6, r12, %[x0], r6\n\t" "sxtb16 r10, r10, ror #8\n\t"
            "sxtb16 r12, r11\n\t" "smlad r7, r12, %[x0], r7\n\t" "sxtb16 r11, r11, ror #8\n\t"
            "ldr %[x0], [%[v]], #4\n\t"
            "smlad r4, r8, %[x0], r4\n\t" "smlad r5, r9, %[x0], r5\n\t"
            "smlad r6, r10, %[x0], r6\n\t" "smlad r7, r11, %[x0], r7\n\t"
            "subs %[n], %[n], #1\n\t"
            "bne 1b\n\t"
            "stm %[acc], {r4, r5, r6, r7}\n"
            : [w] "+r"(w), [v] "+r"(vp), [n] "+r"(quads), [x0] "=&r"(x0)
            : [acc] "r"(acc)
            : "r4", "r5", "r6", "r7", "r8", "r9", "r10", "r11", "r12", "cc", "memory");
    }
}
#endif

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
#if defined(__ARM_FEATURE_DSP) && !defined(SHARNN_PORTABLE)
    /* int8 weights on the two LSTM shapes of the keyword ShaRNN (128x32, 64x16). */
    wb_count_begin();
    matvec_q7_rows4(weights_q7, vec, 128, 32, bench_acc);
    wb_count_end();
    wb_count_begin();
    matvec_q7_rows4(weights_q7, vec, 64, 16, bench_acc);
    wb_count_end();
#endif
    return 0;
}

/*
 * Kernel benchmark firmware: the int16 recurrent matrix-vector core (sharnn_q15_matvec) on the
 * shapes of the keyword-spotting ShaRNN, each call between the instruction-count markers. The host
 * (bench/kernel_bench.py) runs it under QEMU with our counting plugin and divides by the MACs.
 * Weights live in flash as in the real firmware; their values do not change the instruction count.
 * Then every shape (and some whose pairs are not a multiple of four) is checked once against a
 * plain C product on pseudo-random weights and vector: exit code 0 (semihosting) when all equal,
 * 1 when one differs, so a faster block loop that gets a sum wrong fails the benchmark's test.
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

/* acc[r] = row r . v in the interleaved layout: block b, pair p, row r of the block at
 * w[((b * pairs + p) * block_rows + r) * 2]. */
static void matvec_plain(const int16_t *w, const int16_t *v, uint32_t rows, uint32_t block_rows, uint32_t cols,
                         int32_t *acc)
{
    const uint32_t pairs = cols / 2u;
    for (uint32_t row = 0; row < rows; row++) {
        const uint32_t b = row / block_rows, r = row % block_rows;
        uint32_t sum = 0;        /* SMLAD wraps like uint32 addition */
        for (uint32_t p = 0; p < pairs; p++) {
            const int16_t *wp = &w[((b * pairs + p) * block_rows + r) * 2u];
            sum += (uint32_t)(wp[0] * v[2u * p]) + (uint32_t)(wp[1] * v[2u * p + 1u]);
        }
        acc[row] = (int32_t)sum;
    }
}

static int16_t check_weights[MAX_ROWS * MAX_COLS] __attribute__((aligned(4)));
static int16_t check_vec[MAX_COLS] __attribute__((aligned(4)));
static int32_t check_acc[2][MAX_ROWS];

/* 1 when the library's product of one shape differs from the plain one. */
static int check_shape(uint32_t rows, uint32_t block, uint32_t cols)
{
    for (uint32_t r = 0; r < rows; r++) {
        check_acc[0][r] = 0;
    }
    sharnn_q15_matvec(check_weights, check_vec, rows, block, cols, check_acc[0]);
    matvec_plain(check_weights, check_vec, rows, block, cols, check_acc[1]);
    for (uint32_t r = 0; r < rows; r++) {
        if (check_acc[0][r] != check_acc[1][r]) {
            return 1;
        }
    }
    return 0;
}

static int check_matvec(void)
{
    static const struct {
        uint16_t rows, block_rows, cols;
    } extra[] = { { 48, 3, 12 }, { 48, 3, 24 }, { 12, 3, 2 }, { 64, 4, 12 }, { 8, 4, 2 } };
    uint32_t seed = 12345u;
    for (unsigned i = 0; i < MAX_ROWS * MAX_COLS; i++) {
        seed = seed * 1664525u + 1013904223u;
        check_weights[i] = (int16_t)(seed >> 16);
    }
    for (unsigned i = 0; i < MAX_COLS; i++) {
        seed = seed * 1664525u + 1013904223u;
        check_vec[i] = (int16_t)(seed >> 16);
    }
    int differs = 0;
    for (unsigned c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        differs |= check_shape(cases[c].rows, cases[c].block_rows, cases[c].cols);
    }
    for (unsigned c = 0; c < sizeof extra / sizeof extra[0]; c++) {
        differs |= check_shape(extra[c].rows, extra[c].block_rows, extra[c].cols);
    }
    return differs;
}

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
    return check_matvec();
}

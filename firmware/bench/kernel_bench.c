/*
 * Kernel benchmark firmware: the recurrent matrix-vector cores, int16 (sharnn_q15_matvec) and
 * float32 (sharnn_f32_matvec), on the shapes of the benchmark's models, each call between the
 * instruction-count markers. The host (bench/kernel_bench.py) runs it under QEMU with our counting
 * plugin and divides by the MACs. Weights live in flash as in the real firmware; their values do
 * not change the instruction count. Then every shape (and some odd ones) is checked once against a
 * plain C product on pseudo-random weights and vector (the float one a row-major chain of fmaf, bit
 * for bit): exit code 0 (semihosting) when all equal, 1 when one differs, so a faster block loop that
 * gets a sum wrong fails the benchmark's test.
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

/* The float shapes, after the int16 ones: bench/kernel_bench.py CORE_F32_CASES. */
static const struct {
    uint16_t rows, cols;
} f32_cases[] = {
    { 128, 32 },      /* LSTM H=32: W_x over 32 features, W_h over h */
    { 64, 32 },       /* LSTM H=16 (upper): W_x over the 32 brick outputs */
    { 64, 16 },       /* LSTM H=16 (upper): W_h */
    { 96, 32 },       /* GRU H=32 */
    { 48, 16 },       /* GRU H=16: W_x over 16 brick outputs, W_h */
    { 48, 6 },        /* GRU H=16 (BasicMotions lower): W_x over 6 channels */
    { 128, 64 },      /* minGRU H=64, second layer: z and h~ rows over the first layer's h */
    { 64, 64 },       /* minGRU H=32 (upper): over the 64 brick outputs */
};
#define F32_MAX_ROWS 128
#define F32_MAX_COLS 64

static const int16_t weights[MAX_ROWS * MAX_COLS] __attribute__((aligned(4))) = { 1 };
static const float weights_f32[F32_MAX_ROWS * F32_MAX_COLS] = { 1.0f };
static float vec_f32[F32_MAX_COLS];
float bench_sums[F32_MAX_ROWS];  /* global: the calls cannot be optimised away */
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

/* ---- the float core: the library's block layout against a row-major chain of fmaf. */
static float check_f32_rowmajor[F32_MAX_ROWS * F32_MAX_COLS];
static float check_f32_blocked[F32_MAX_ROWS * F32_MAX_COLS];
static float check_f32_vec[F32_MAX_COLS], check_f32_bias[F32_MAX_ROWS], check_f32_out[2][F32_MAX_ROWS];

/* sharnn.h's layout: blocks of 8 rows, chunks of four columns (the last of two), row by row. */
static void f32_block_layout(const float *w, uint32_t rows, uint32_t cols, float *out)
{
    for (uint32_t b = 0; b < rows; b += 8) {
        for (uint32_t c0 = 0; c0 < cols; c0 += 4) {
            const uint32_t n = cols - c0 >= 4u ? 4u : 2u;
            for (uint32_t r = 0; r < 8; r++) {
                for (uint32_t c = 0; c < n; c++) {
                    *out++ = w[(b + r) * cols + c0 + c];
                }
            }
        }
    }
}

static int check_f32_shape(uint32_t rows, uint32_t cols, int with_bias)
{
    f32_block_layout(check_f32_rowmajor, rows, cols, check_f32_blocked);
    sharnn_f32_matvec(check_f32_blocked, check_f32_vec, with_bias ? check_f32_bias : NULL, rows, cols,
                      check_f32_out[0]);
    for (uint32_t r = 0; r < rows; r++) {
        float acc = with_bias ? check_f32_bias[r] : 0.0f;
        for (uint32_t j = 0; j < cols; j++) {
            acc = __builtin_fmaf(check_f32_rowmajor[r * cols + j], check_f32_vec[j], acc);
        }
        union { float f; uint32_t u; } a = { acc }, b = { check_f32_out[0][r] };
        if (a.u != b.u) {
            return 1;
        }
    }
    return 0;
}

static int check_matvec_f32(void)
{
    static const struct {
        uint16_t rows, cols;
    } extra[] = { { 8, 2 }, { 8, 4 }, { 16, 6 }, { 24, 10 }, { 32, 14 }, { 40, 2 } };
    uint32_t seed = 777u;
    for (unsigned i = 0; i < F32_MAX_ROWS * F32_MAX_COLS; i++) {
        seed = seed * 1664525u + 1013904223u;
        check_f32_rowmajor[i] = (float)(int32_t)seed * 0x1p-31f;
    }
    for (unsigned i = 0; i < F32_MAX_COLS; i++) {
        seed = seed * 1664525u + 1013904223u;
        check_f32_vec[i] = (float)(int32_t)seed * 0x1p-29f;
    }
    for (unsigned i = 0; i < F32_MAX_ROWS; i++) {
        seed = seed * 1664525u + 1013904223u;
        check_f32_bias[i] = (float)(int32_t)seed * 0x1p-33f;
    }
    int differs = 0;
    for (unsigned c = 0; c < sizeof f32_cases / sizeof f32_cases[0]; c++) {
        differs |= check_f32_shape(f32_cases[c].rows, f32_cases[c].cols, (int)(c & 1u));
    }
    for (unsigned c = 0; c < sizeof extra / sizeof extra[0]; c++) {
        differs |= check_f32_shape(extra[c].rows, extra[c].cols, (int)(c & 1u));
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
    for (unsigned i = 0; i < F32_MAX_COLS; i++) {
        vec_f32[i] = (float)i * 0.25f;
    }
    for (unsigned c = 0; c < sizeof f32_cases / sizeof f32_cases[0]; c++) {
        wb_count_begin();
        sharnn_f32_matvec(weights_f32, vec_f32, NULL, f32_cases[c].rows, f32_cases[c].cols, bench_sums);
        wb_count_end();
    }
    return check_matvec() | check_matvec_f32();
}

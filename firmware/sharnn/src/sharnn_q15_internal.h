/*
 * Inline fixed-point primitives of the int16 kernels (private to the library). Each has a numpy
 * twin in workbench/quantize/fixedpoint.py computing the same integers.
 */
#ifndef SHARNN_Q15_INTERNAL_H
#define SHARNN_Q15_INTERNAL_H

#include <stdint.h>

#include "sharnn.h"

#if defined(__ARM_FEATURE_DSP) && !defined(SHARNN_PORTABLE)
#define SHARNN_Q15_DSP 1
#else
#define SHARNN_Q15_DSP 0
#endif

#if SHARNN_Q15_DSP
#include <arm_acle.h>
#endif

#define SHARNN_INLINE static inline __attribute__((always_inline))

/* Knots 0 .. 512 of tanh(i/64) and sigmoid(i/32) in Q15. Entry i = knot i (low half) | knot i+1 -
 * knot i (high half): one load fetches what an interpolation needs. */
#define SHARNN_TABLE_LEN 513
extern const uint32_t sharnn_tanh_q15_table[SHARNN_TABLE_LEN - 1];
extern const uint32_t sharnn_sigmoid_q15_table[SHARNN_TABLE_LEN - 1];

/* Round half up division by 2^n, n in [0, 31). Relies on >> of a negative int32 being arithmetic
 * (implementation-defined in C99; GCC and Clang define it so). The kernels fold the 2^(n-1) of
 * accumulator shifts into the biases and shift only. */
SHARNN_INLINE int32_t sharnn_rshift_round(int32_t x, uint32_t n)
{
    return (x + (int32_t)((1u << n) >> 1)) >> n;
}

SHARNN_INLINE int32_t sharnn_sat16(int32_t x)
{
#if SHARNN_Q15_DSP
    return __ssat(x, 16);
#else
    return x > 32767 ? 32767 : (x < -32768 ? -32768 : x);
#endif
}

/* Clamp to [0, 2^bits - 1] (USAT on the DSP path). */
#if SHARNN_Q15_DSP
#define SHARNN_USAT(x, bits) ((int32_t)__usat((x), (bits)))
#else
#define SHARNN_USAT(x, bits) ((x) < 0 ? 0 : ((x) > (int32_t)((1u << (bits)) - 1u) ? (int32_t)((1u << (bits)) - 1u) : (x)))
#endif

/* f(a) for 0 <= a < 512 << frac_bits, a in units of 2^-(step + frac_bits): knot plus linear
 * interpolation, round half up. On the DSP path SMLATB multiplies the step (top half of the entry)
 * by the fraction and adds the rounding constant in one instruction. */
SHARNN_INLINE int32_t sharnn_lookup(const uint32_t *t, int32_t a, uint32_t frac_bits)
{
    const uint32_t e = t[a >> frac_bits];
    const int32_t f = a & (int32_t)((1u << frac_bits) - 1u);
#if SHARNN_Q15_DSP
    const int32_t d = __smlatb((int32_t)e, f, 1 << (frac_bits - 1));
#else
    const int32_t d = (int16_t)(e >> 16) * f + (1 << (frac_bits - 1));
#endif
    return (int16_t)(e & 0xffffu) + (d >> frac_bits);
}

/* Q16 -> Q15, odd. |x| is clamped below the last knot (both last knots are 32767: saturation). The
 * sign is applied without a branch: s = x >> 31 is 0 or -1, (y ^ s) - s is y or -y. */
SHARNN_INLINE int32_t sharnn_tanh_q16(int32_t x)
{
    const int32_t s = x >> 31;
    const int32_t a = SHARNN_USAT((x ^ s) - s, 19);            /* < 8.0 in Q16 */
    const int32_t y = sharnn_lookup(sharnn_tanh_q15_table, a, 10);
    return (y ^ s) - s;
}

/* Q16 -> Q15 in [1, 32767]; sigmoid(-x) = 32768 - sigmoid(x) = (y ^ -1) + 32769. */
SHARNN_INLINE int32_t sharnn_sigmoid_q16(int32_t x)
{
    const int32_t s = x >> 31;
    const int32_t a = SHARNN_USAT((x ^ s) - s, 20);            /* < 16.0 in Q16 */
    const int32_t y = sharnn_lookup(sharnn_sigmoid_q15_table, a, 11);
    return (y ^ s) + (s & 32769);
}

/* ---- the block dot product: acc[r] += row r . v over `pairs` column pairs (interleaved layout).
 * Returns the weight pointer past the block. */

SHARNN_INLINE const int16_t *sharnn_dot_block_portable(const int16_t *w, const int16_t *v, uint32_t pairs,
                                                       uint32_t rows, int32_t *acc)
{
    for (uint32_t p = 0; p < pairs; p++) {
        const int32_t v0 = v[2 * p];
        const int32_t v1 = v[2 * p + 1];
        for (uint32_t r = 0; r < rows; r++) {
            acc[r] += w[0] * v0;
            acc[r] += w[1] * v1;
            w += 2;
        }
    }
    return w;
}

#if SHARNN_Q15_DSP
/*
 * SMLAD does two 16x16 MACs. Per column pair and block: the vector pair is loaded once (LDRD
 * fetches two pairs), one LDM fetches that pair of every row of the block (the layout interleaves
 * them), one SMLAD per row. Four pairs per loop pass: 2 LDRD + 4 LDM + 4R SMLAD + SUBS/BNE, i.e.
 * 24 instructions for 32 MACs at R = 4 (0.75 per MAC), then single pairs for the rest.
 * The weight registers r8-r11 are named (LDM needs an ascending list); SMLAD wraps like uint32
 * addition, which equals the portable sums because the plan keeps them inside int32.
 */
#define SHARNN_DOT_BODY4_FIXED(X)                            \
    "ldmia %[w]!, {r8, r9, r10, r11}\n\t"                    \
    "smlad r4, r8, " X ", r4\n\t"                            \
    "smlad r5, r9, " X ", r5\n\t"                            \
    "smlad r6, r10, " X ", r6\n\t"                           \
    "smlad r7, r11, " X ", r7\n\t"

#define SHARNN_DOT_BODY3_FIXED(X)                            \
    "ldmia %[w]!, {r8, r9, r10}\n\t"                         \
    "smlad r4, r8, " X ", r4\n\t"                            \
    "smlad r5, r9, " X ", r5\n\t"                            \
    "smlad r6, r10, " X ", r6\n\t"

/* Four column pairs of a block: two LDRD of the vector (advancing %[v]), a BODY per pair. */
#define SHARNN_DOT_PASS4(BODY)                                                        \
        "ldrd %[x0], %[x1], [%[v]], #8\n\t"                                          \
        BODY("%[x0]") BODY("%[x1]")                                                   \
        "ldrd %[x0], %[x1], [%[v]], #8\n\t"                                          \
        BODY("%[x0]") BODY("%[x1]")

/* The pass over the column pairs, shared by every variant: four pairs per loop pass, then single
 * pairs. The accumulators are r4-r7 (r4-r6 for R = 3), the weights r8-r11. */
#define SHARNN_DOT_LOOP(BODY)                                                         \
        "subs %[p], %[p], #4\n\t"                                                    \
        "blt 2f\n"                                                                    \
        "1:\n\t"                                                                     \
        SHARNN_DOT_PASS4(BODY)                                                        \
        "subs %[p], %[p], #4\n\t"                                                    \
        "bge 1b\n"                                                                    \
        "2:\n\t"                                                                     \
        "adds %[p], %[p], #4\n\t"                                                    \
        "beq 4f\n"                                                                    \
        "3:\n\t"                                                                     \
        "ldr %[x0], [%[v]], #4\n\t"                                                  \
        BODY("%[x0]")                                                                 \
        "subs %[p], %[p], #1\n\t"                                                    \
        "bne 3b\n"                                                                    \
        "4:\n\t"

/* A cell's block: the initial accumulators come from *bias (one LDM, bias advanced), the sums
 * leave in out[]. Only pointers and counters are left to the compiler. */
SHARNN_INLINE const int16_t *sharnn_dot4_dsp(const int16_t *w, const int16_t *v, uint32_t pairs,
                                             const int32_t **bias, int32_t *out)
{
    register int32_t a0 __asm("r4");
    register int32_t a1 __asm("r5");
    register int32_t a2 __asm("r6");
    register int32_t a3 __asm("r7");
    const int32_t *b = *bias;
    uint32_t x0, x1;
    __asm volatile(
        "ldmia %[b]!, {r4, r5, r6, r7}\n\t"
        SHARNN_DOT_LOOP(SHARNN_DOT_BODY4_FIXED)
        : "=r"(a0), "=r"(a1), "=r"(a2), "=r"(a3), [w] "+r"(w), [v] "+r"(v), [p] "+r"(pairs), [b] "+r"(b),
          [x0] "=&r"(x0), [x1] "=&r"(x1)
        :
        : "r8", "r9", "r10", "r11", "cc", "memory");
    out[0] = a0;
    out[1] = a1;
    out[2] = a2;
    out[3] = a3;
    *bias = b;
    return w;
}

SHARNN_INLINE const int16_t *sharnn_dot3_dsp(const int16_t *w, const int16_t *v, uint32_t pairs,
                                             const int32_t **bias, int32_t *out)
{
    register int32_t a0 __asm("r4");
    register int32_t a1 __asm("r5");
    register int32_t a2 __asm("r6");
    const int32_t *b = *bias;
    uint32_t x0, x1;
    __asm volatile(
        "ldmia %[b]!, {r4, r5, r6}\n\t"
        SHARNN_DOT_LOOP(SHARNN_DOT_BODY3_FIXED)
        : "=r"(a0), "=r"(a1), "=r"(a2), [w] "+r"(w), [v] "+r"(v), [p] "+r"(pairs), [b] "+r"(b),
          [x0] "=&r"(x0), [x1] "=&r"(x1)
        :
        : "r7", "r8", "r9", "r10", "cc", "memory");
    out[0] = a0;
    out[1] = a1;
    out[2] = a2;
    *bias = b;
    return w;
}

/* The same loop for a block whose accumulators live in memory (the standalone matvec): LDM/STM
 * move them through the fixed registers r4-r7, so the compiler keeps only pointers and counters
 * (2 instructions per block for the accumulators instead of 2R loads and stores). */
#define SHARNN_DOT_MEM_ASM(BODY, ACC_REGS, CLOBBERS...)                              \
    __asm volatile(                                                                   \
        "ldm %[acc], {" ACC_REGS "}\n\t"                                             \
        SHARNN_DOT_LOOP(BODY)                                                         \
        "stm %[acc], {" ACC_REGS "}\n"                                                \
        : [w] "+r"(w), [v] "+r"(v), [p] "+r"(pairs), [x0] "=&r"(x0), [x1] "=&r"(x1)   \
        : [acc] "r"(acc)                                                              \
        : CLOBBERS, "cc", "memory")

SHARNN_INLINE const int16_t *sharnn_dot4_mem_dsp(const int16_t *w, const int16_t *v, uint32_t pairs, int32_t *acc)
{
    uint32_t x0, x1;
    SHARNN_DOT_MEM_ASM(SHARNN_DOT_BODY4_FIXED, "r4, r5, r6, r7", "r4", "r5", "r6", "r7", "r8", "r9", "r10", "r11");
    return w;
}

SHARNN_INLINE const int16_t *sharnn_dot3_mem_dsp(const int16_t *w, const int16_t *v, uint32_t pairs, int32_t *acc)
{
    uint32_t x0, x1;
    SHARNN_DOT_MEM_ASM(SHARNN_DOT_BODY3_FIXED, "r4, r5, r6", "r4", "r5", "r6", "r8", "r9", "r10");
    return w;
}

/* The whole standalone matvec in 3-row blocks when the column pairs are a multiple of four (every
 * GRU shape of the keyword model): one asm walks all blocks, so a block costs its loop passes plus 5
 * (LDM and STM of the accumulators, the vector pointer reset, the block loop's CMP/BNE) instead of
 * the ~13 of a call of sharnn_dot3_mem_dsp per block (its pair countdown, the single-pair tail
 * test, the C loop). A pass takes eight pairs when they divide the row (one CMP/BNE per 48 MACs),
 * else four. Eight registers are left to the compiler, r7 and r11 among them: the accumulators are
 * r4-r6, the weights r8-r10. */
#define SHARNN_MATVEC3_ASM(PASS)                                                             \
    __asm volatile(                                                                          \
        "1:\n\t"                                                                            \
        "ldm %[acc], {r4, r5, r6}\n\t"                                                      \
        "mov %[v], %[v_start]\n"                                                           \
        "2:\n\t"                                                                            \
        PASS                                                                                 \
        "cmp %[v], %[v_end]\n\t"                                                            \
        "bne 2b\n\t"                                                                        \
        "stmia %[acc]!, {r4, r5, r6}\n\t"                                                   \
        "cmp %[acc], %[acc_end]\n\t"                                                        \
        "bne 1b\n"                                                                          \
        : [w] "+r"(w), [acc] "+r"(acc), [v] "=&r"(vp), [x0] "=&r"(x0), [x1] "=&r"(x1)         \
        : [v_start] "r"(v), [v_end] "r"(v_end), [acc_end] "r"(acc_end)                       \
        : "r4", "r5", "r6", "r8", "r9", "r10", "cc", "memory")

SHARNN_INLINE void sharnn_matvec3_quads_dsp(const int16_t *w, const int16_t *v, uint32_t rows, uint32_t pairs,
                                            int32_t *acc)
{
    const int16_t *const v_end = v + 2u * pairs;
    const int32_t *const acc_end = acc + rows;
    const int16_t *vp;
    uint32_t x0, x1;
    if (pairs % 8u == 0u) {
        SHARNN_MATVEC3_ASM(SHARNN_DOT_PASS4(SHARNN_DOT_BODY3_FIXED) SHARNN_DOT_PASS4(SHARNN_DOT_BODY3_FIXED));
    } else {
        SHARNN_MATVEC3_ASM(SHARNN_DOT_PASS4(SHARNN_DOT_BODY3_FIXED));
    }
}
#endif /* SHARNN_Q15_DSP */

/* A cell's block of R rows (R a constant): out[r] = (*bias)[r] + row r . v; *bias advances by R. */
SHARNN_INLINE const int16_t *sharnn_dot(const int16_t *w, const int16_t *v, uint32_t pairs, uint32_t rows,
                                        const int32_t **bias, int32_t *out)
{
#if SHARNN_Q15_DSP
    if (rows == 4) {
        return sharnn_dot4_dsp(w, v, pairs, bias, out);
    }
    if (rows == 3) {
        return sharnn_dot3_dsp(w, v, pairs, bias, out);
    }
#endif
    for (uint32_t r = 0; r < rows; r++) {
        out[r] = (*bias)[r];
    }
    *bias += rows;
    return sharnn_dot_block_portable(w, v, pairs, rows, out);
}

#endif /* SHARNN_Q15_INTERNAL_H */

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

#define SHARNN_INLINE static inline __attribute__((always_inline))

#define SHARNN_TANH_TABLE_LEN 513   /* tanh(i/64), i = 0..512, Q15 */
extern const int16_t sharnn_tanh_q15_table[SHARNN_TANH_TABLE_LEN];

/* Round half up division by 2^n, n in [0, 31). Relies on >> of a negative int32 being arithmetic
 * (implementation-defined in C99; GCC and Clang define it so). */
SHARNN_INLINE int32_t sharnn_rshift_round(int32_t x, uint32_t n)
{
    return (x + (int32_t)((1u << n) >> 1)) >> n;
}

SHARNN_INLINE int16_t sharnn_sat16(int32_t x)
{
    return (int16_t)(x > 32767 ? 32767 : (x < -32768 ? -32768 : x));
}

/* tanh at a >= 0 given in units of 2^-(6 + frac_bits): table knot plus linear interpolation. */
SHARNN_INLINE int32_t sharnn_tanh_interp(uint32_t a, uint32_t frac_bits)
{
    uint32_t i = a >> frac_bits;
    if (i >= SHARNN_TANH_TABLE_LEN - 1) {
        return 32767;
    }
    int32_t t0 = sharnn_tanh_q15_table[i];
    int32_t t1 = sharnn_tanh_q15_table[i + 1];
    int32_t f = (int32_t)(a & ((1u << frac_bits) - 1u));
    return t0 + (((t1 - t0) * f + (1 << (frac_bits - 1))) >> frac_bits);
}

SHARNN_INLINE uint32_t sharnn_abs_u32(int32_t x)
{
    return x < 0 ? 0u - (uint32_t)x : (uint32_t)x;
}

/* Q16 -> Q15 */
SHARNN_INLINE int32_t sharnn_tanh_q16(int32_t x)
{
    int32_t y = sharnn_tanh_interp(sharnn_abs_u32(x), 10);
    return x < 0 ? -y : y;
}

/* Q16 -> Q15 in [1, 32767]: (1 + tanh(x/2)) / 2, the halving taken as one more fraction bit. */
SHARNN_INLINE int32_t sharnn_sigmoid_q16(int32_t x)
{
    int32_t t = sharnn_tanh_interp(sharnn_abs_u32(x), 11);
    int32_t s = (32769 + (x < 0 ? -t : t)) >> 1;
    return s > 32767 ? 32767 : s;
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
#define SHARNN_DOT_BODY4(X)                                  \
    "ldmia %[w]!, {r8, r9, r10, r11}\n\t"                    \
    "smlad %[a0], r8, " X ", %[a0]\n\t"                      \
    "smlad %[a1], r9, " X ", %[a1]\n\t"                      \
    "smlad %[a2], r10, " X ", %[a2]\n\t"                     \
    "smlad %[a3], r11, " X ", %[a3]\n\t"

SHARNN_INLINE const int16_t *sharnn_dot4_dsp(const int16_t *w, const int16_t *v, uint32_t pairs, int32_t *acc)
{
    int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
    uint32_t n, x0, x1;
    __asm volatile(
        "lsrs %[n], %[pairs], #2\n\t"
        "beq 2f\n"
        "1:\n\t"
        "ldrd %[x0], %[x1], [%[v]], #8\n\t"
        SHARNN_DOT_BODY4("%[x0]")
        SHARNN_DOT_BODY4("%[x1]")
        "ldrd %[x0], %[x1], [%[v]], #8\n\t"
        SHARNN_DOT_BODY4("%[x0]")
        SHARNN_DOT_BODY4("%[x1]")
        "subs %[n], %[n], #1\n\t"
        "bne 1b\n"
        "2:\n\t"
        "ands %[n], %[pairs], #3\n\t"
        "beq 4f\n"
        "3:\n\t"
        "ldr %[x0], [%[v]], #4\n\t"
        SHARNN_DOT_BODY4("%[x0]")
        "subs %[n], %[n], #1\n\t"
        "bne 3b\n"
        "4:\n"
        : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [w] "+r"(w), [v] "+r"(v),
          [n] "=&r"(n), [x0] "=&r"(x0), [x1] "=&r"(x1)
        : [pairs] "r"(pairs)
        : "r8", "r9", "r10", "r11", "cc", "memory");
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
    return w;
}

#define SHARNN_DOT_BODY3(X)                                  \
    "ldmia %[w]!, {r8, r9, r10}\n\t"                         \
    "smlad %[a0], r8, " X ", %[a0]\n\t"                      \
    "smlad %[a1], r9, " X ", %[a1]\n\t"                      \
    "smlad %[a2], r10, " X ", %[a2]\n\t"

SHARNN_INLINE const int16_t *sharnn_dot3_dsp(const int16_t *w, const int16_t *v, uint32_t pairs, int32_t *acc)
{
    int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2];
    uint32_t n, x0, x1;
    __asm volatile(
        "lsrs %[n], %[pairs], #2\n\t"
        "beq 2f\n"
        "1:\n\t"
        "ldrd %[x0], %[x1], [%[v]], #8\n\t"
        SHARNN_DOT_BODY3("%[x0]")
        SHARNN_DOT_BODY3("%[x1]")
        "ldrd %[x0], %[x1], [%[v]], #8\n\t"
        SHARNN_DOT_BODY3("%[x0]")
        SHARNN_DOT_BODY3("%[x1]")
        "subs %[n], %[n], #1\n\t"
        "bne 1b\n"
        "2:\n\t"
        "ands %[n], %[pairs], #3\n\t"
        "beq 4f\n"
        "3:\n\t"
        "ldr %[x0], [%[v]], #4\n\t"
        SHARNN_DOT_BODY3("%[x0]")
        "subs %[n], %[n], #1\n\t"
        "bne 3b\n"
        "4:\n"
        : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [w] "+r"(w), [v] "+r"(v),
          [n] "=&r"(n), [x0] "=&r"(x0), [x1] "=&r"(x1)
        : [pairs] "r"(pairs)
        : "r8", "r9", "r10", "cc", "memory");
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    return w;
}
#endif /* SHARNN_Q15_DSP */

SHARNN_INLINE const int16_t *sharnn_dot4(const int16_t *w, const int16_t *v, uint32_t pairs, int32_t *acc)
{
#if SHARNN_Q15_DSP
    return sharnn_dot4_dsp(w, v, pairs, acc);
#else
    return sharnn_dot_block_portable(w, v, pairs, 4, acc);
#endif
}

SHARNN_INLINE const int16_t *sharnn_dot3(const int16_t *w, const int16_t *v, uint32_t pairs, int32_t *acc)
{
#if SHARNN_Q15_DSP
    return sharnn_dot3_dsp(w, v, pairs, acc);
#else
    return sharnn_dot_block_portable(w, v, pairs, 3, acc);
#endif
}

#endif /* SHARNN_Q15_INTERNAL_H */

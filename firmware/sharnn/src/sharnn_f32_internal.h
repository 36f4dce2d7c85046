/*
 * Inline float32 primitives of the float kernels (private to the library): the fused multiply-add
 * and the activations. Every function here computes the same bits on every IEEE single-precision
 * machine (see sharnn.h): built with -ffp-contract=off, the compiler fuses nothing on its own, and
 * the only fused operations are the explicit sharnn_fma calls.
 */
#ifndef SHARNN_F32_INTERNAL_H
#define SHARNN_F32_INTERNAL_H

#include <float.h>
#include <stdint.h>

#include "sharnn.h"

#define SHARNN_F32_INLINE static inline __attribute__((always_inline))

/* The block loop in VLDM/VFMA assembly: a Thumb-2 core whose single-precision FPU fuses
 * (Cortex-M4F, M7, M33). */
#if defined(__thumb2__) && defined(__ARM_FP) && (__ARM_FP & 4) && defined(__FP_FAST_FMAF) && \
    !defined(SHARNN_PORTABLE)
#define SHARNN_F32_ASM 1
#else
#define SHARNN_F32_ASM 0
#endif

/* fma(a, b, c) = a * b + c rounded once. Where the compiler has a fused single-precision instruction
 * (__FP_FAST_FMAF: Cortex-M4F VFMA.F32, x86-64 with -mfma) the builtin is that instruction, never a
 * libm call. Elsewhere (x86-64 without -mfma, a core without FPU) the software version computes the
 * same bits: the product is exact in double (24 + 24 <= 53 bits), the sum is rounded to odd in
 * double (rounded to nearest, then moved to the odd neighbour towards the exact sum when inexact and
 * even; the error comes exactly from TwoSum), and rounding that to float is the correctly rounded
 * result (Boldo & Melquiond, "Emulation of FMA and correctly rounded sums: proved algorithms using
 * rounding to odd", IEEE Trans. Computers 2008: 53 >= 24 + 2). It needs double arithmetic without
 * excess precision. */
#if defined(__FP_FAST_FMAF)
SHARNN_F32_INLINE float sharnn_fma(float a, float b, float c)
{
    return __builtin_fmaf(a, b, c);
}
#else
#if defined(FLT_EVAL_METHOD) && FLT_EVAL_METHOD != 0
#error "the software fmaf needs double arithmetic without excess precision (FLT_EVAL_METHOD 0)"
#endif
SHARNN_F32_INLINE float sharnn_fma(float a, float b, float c)
{
    const double p = (double)a * (double)b;
    const double s = p + (double)c;
    const double bv = s - p;
    const double err = (p - (s - bv)) + ((double)c - bv);      /* p + c = s + err exactly */
    union {
        double d;
        uint64_t u;
    } v = { s };
    if (err != 0.0 && err == err && (v.u & 1u) == 0u) {
        v.u += ((err > 0.0) == (s > 0.0)) ? 1u : (uint64_t)-1;  /* the odd neighbour towards p + c */
    }
    return (float)v.d;
}
#endif

/* ---- activations.
 * 2^y for |y| <= 126: y = n + r with n = round(y) (the 1.5 * 2^23 shifter rounds to nearest in the
 * float adder, and leaves n in the low bits of the sum), |r| <= 1/2; 2^r by a degree-6 polynomial
 * (coefficients fitted here for the relative error of 2^r on [-1/2, 1/2]: 1.6e-8 with exact
 * arithmetic), 2^n by writing n + 127 into the exponent field. Round to nearest (the reset mode) and
 * no flush-to-zero are assumed, as everywhere in these kernels. */
SHARNN_F32_INLINE float sharnn_exp2_core(float y)
{
    const float shifter = 12582912.0f;                      /* 1.5 * 2^23 */
    const float m = y + shifter;
    const float r = y - (m - shifter);
    float p = 0x1.41fbbcp-13f;
    p = sharnn_fma(p, r, 0x1.5f3e54p-10f);
    p = sharnn_fma(p, r, 0x1.3b2d4cp-7f);
    p = sharnn_fma(p, r, 0x1.c6aee8p-5f);
    p = sharnn_fma(p, r, 0x1.ebfbdcp-3f);
    p = sharnn_fma(p, r, 0x1.62e430p-1f);
    p = sharnn_fma(p, r, 1.0f);
    union {
        float f;
        uint32_t u;
    } scale = { m };
    /* bits(m) = bits(shifter) + n; shifted left by 23 only n survives (bits(shifter) ends in 9 zero
     * bits), so this is (n + 127) << 23: 2^n. */
    scale.u = (scale.u << 23) + 0x3f800000u;
    return p * scale.f;
}

/* Beyond |x| = 40 both functions are saturated in float (sigmoid(-40) = 4.2e-18): x is clamped
 * there, so 2^y stays normal and finite. A NaN goes through and comes out NaN. */
SHARNN_F32_INLINE float sharnn_clamp40(float x)
{
    if (__builtin_expect(__builtin_fabsf(x) > 40.0f, 0)) {
        x = x > 0.0f ? 40.0f : -40.0f;
    }
    return x;
}

SHARNN_F32_INLINE float sharnn_sigmoid(float x)
{
    return 1.0f / (1.0f + sharnn_exp2_core(sharnn_clamp40(x) * -1.44269504088896341f));
}

/* tanh(x) = (e^2x - 1) / (e^2x + 1): no sign to take off and put back, and each of the three
 * operations rounds relative to its result on either side of 0 (1 - 2 / (e^2x + 1) would lose a bit
 * for x < 0, where the quotient nears 2). */
SHARNN_F32_INLINE float sharnn_tanh(float x)
{
    const float e = sharnn_exp2_core(sharnn_clamp40(x) * 2.88539008177792681f);
    return (e - 1.0f) / (e + 1.0f);
}

#endif /* SHARNN_F32_INTERNAL_H */

/*
 * Float activations for the kernels. libm's expf differs between newlib and glibc in the last bit,
 * which would break host/device bit-exactness; this implementation uses only +, -, *, / and bit
 * manipulation, so every IEEE-754 single-precision machine computes the same bits.
 *
 * expf: Cody-Waite range reduction x = n*ln2 + r, |r| <= ln2/2, and the degree-6 minimax
 * polynomial of Cephes' expf for e^r (relative error ~1e-7); 2^n is built in the exponent field.
 */
#include "sharnn.h"

static float scale_pow2(float y, int32_t n)
{
    /* y * 2^n for n in [-126, 127]: the result stays a normal number for the reduced range. The bits
     * go through a union, not memcpy: builds with -ffreestanding (Zephyr's) would call memcpy here,
     * once per activation. */
    union {
        uint32_t bits;
        float value;
    } p = { .bits = (uint32_t)(n + 127) << 23 };
    return y * p.value;
}

float sharnn_expf(float x)
{
    if (x > 88.0f) {
        x = 88.0f;            /* e^88 ~ 1.65e38 < FLT_MAX: saturate instead of overflowing */
    }
    if (x < -87.0f) {
        return 0.0f;          /* below the normal range; exact zero keeps sigmoid/tanh tidy */
    }
    float fn = x * 1.44269504088896341f;                    /* x / ln2 */
    int32_t n = (int32_t)(fn + (fn >= 0.0f ? 0.5f : -0.5f)); /* round half away from zero */
    float r = x - (float)n * 0.693359375f;                  /* ln2 split in two parts */
    r = r - (float)n * -2.12194440e-4f;
    float z = r * r;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    float y = p * z + r + 1.0f;
    return scale_pow2(y, n);
}

float sharnn_sigmoidf(float x)
{
    return 1.0f / (1.0f + sharnn_expf(-x));
}

float sharnn_tanhf(float x)
{
    /* tanh(x) = 1 - 2 / (e^{2x} + 1); odd symmetry keeps the small-|x| error symmetric. */
    float a = x < 0.0f ? -x : x;
    if (a > 9.0f) {
        return x < 0.0f ? -1.0f : 1.0f;  /* 1 - tanh(9) < 2^-24: saturated in float */
    }
    float t = 1.0f - 2.0f / (sharnn_expf(2.0f * a) + 1.0f);
    return x < 0.0f ? -t : t;
}

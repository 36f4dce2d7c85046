/*
 * libFuzzer harness: the device's frame decoder (firmware/runner/wb_frame.c) on arbitrary bytes.
 *
 * Checked besides ASan/UBSan: the receiver never holds more than its buffer, every frame it accepts
 * has a length within WB_MAX_PAYLOAD and survives encode -> receive unchanged, COBS decoding never
 * writes past the capacity it is given (exact-size heap buffers, so one byte over is caught), and
 * COBS encode -> decode is the identity.
 */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "wb_frame.h"

static void check_roundtrip(const wb_frame_t *f)
{
    uint8_t wire[WB_MAX_ENCODED];
    size_t n = wb_frame_encode(f->type, f->seq, f->payload, f->len, wire, sizeof wire);
    assert(n > 0 && n <= sizeof wire && wire[n - 1] == 0x00);
    wb_rx_t *rx = malloc(sizeof *rx);
    wb_frame_t *back = malloc(sizeof *back);
    wb_rx_init(rx);
    int r = WB_RX_NONE;
    for (size_t i = 0; i < n; i++) {
        r = wb_rx_feed(rx, wire[i], back);
        assert(i + 1 == n || r == WB_RX_NONE);
    }
    assert(r == WB_RX_FRAME);
    assert(back->type == f->type && back->seq == f->seq && back->len == f->len);
    assert(memcmp(back->payload, f->payload, f->len) == 0);
    free(rx);
    free(back);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* 1. The byte-at-a-time receiver, as the runner drives it. */
    wb_rx_t *rx = malloc(sizeof *rx);
    wb_frame_t *f = malloc(sizeof *f);
    wb_rx_init(rx);
    for (size_t i = 0; i < size; i++) {
        int r = wb_rx_feed(rx, data[i], f);
        assert(rx->len <= sizeof rx->buf);
        if (r == WB_RX_FRAME) {
            assert(f->len <= WB_MAX_PAYLOAD);
            check_roundtrip(f);
        }
        assert(r >= WB_RX_NONE && r <= WB_RX_BAD_FRAME);
    }
    free(rx);
    free(f);

    if (size == 0) {
        return 0;
    }
    /* 2. COBS decode into a buffer of a capacity the input chooses, exactly that large. */
    size_t cap = data[0] % (WB_MAX_FRAME + 8);
    uint8_t *out = malloc(cap ? cap : 1);
    size_t m = wb_cobs_decode(data + 1, size - 1, out, cap);
    assert(m <= cap);
    free(out);

    /* 3. COBS encode -> decode is the identity, within the documented worst-case size. */
    size_t n = size - 1 > 4 * WB_MAX_FRAME ? 4 * WB_MAX_FRAME : size - 1;
    size_t enc_cap = n + n / 254 + 1;
    uint8_t *enc = malloc(enc_cap);
    size_t e = wb_cobs_encode(data + 1, n, enc, enc_cap);
    assert(e > 0 && e <= enc_cap && memchr(enc, 0, e) == NULL);
    uint8_t *dec = malloc(n ? n : 1);
    size_t d = wb_cobs_decode(enc, e, dec, n);
    assert(d == n && memcmp(dec, data + 1, n) == 0);
    free(enc);
    free(dec);

    /* 4. The frame encoder with any length, into a buffer the input sizes. */
    uint16_t len = (uint16_t)(n > WB_MAX_PAYLOAD + 2 ? WB_MAX_PAYLOAD + 2 : n);
    size_t wcap = data[0] * 2u;
    uint8_t *wire = malloc(wcap ? wcap : 1);
    size_t w = wb_frame_encode(data[0], (uint8_t)size, data + 1, len, wire, wcap);
    assert(w <= wcap);
    assert(w == 0 || (len <= WB_MAX_PAYLOAD && wire[w - 1] == 0x00));
    free(wire);
    return 0;
}

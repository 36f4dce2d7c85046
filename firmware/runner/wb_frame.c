/*
 * Framing for protocol v1. CRC-32 uses a 16-entry nibble table: 64 bytes of flash instead of 1 KB,
 * and speed does not matter here (the link, not the CRC, bounds throughput).
 */
#include "wb_frame.h"

#include <string.h>

static const uint32_t crc_nibble[16] = {
    0x00000000u, 0x1db71064u, 0x3b6e20c8u, 0x26d930acu, 0x76dc4190u, 0x6b6b51f4u, 0x4db26158u, 0x5005713cu,
    0xedb88320u, 0xf00f9344u, 0xd6d6a3e8u, 0xcb61b38cu, 0x9b64c2b0u, 0x86d3d2d4u, 0xa00ae278u, 0xbdbdf21cu,
};

uint32_t wb_crc32(uint32_t crc, const uint8_t *data, size_t len)
{
    crc = ~crc;
    for (size_t i = 0; i < len; i++) {
        crc ^= data[i];
        crc = (crc >> 4) ^ crc_nibble[crc & 0x0fu];
        crc = (crc >> 4) ^ crc_nibble[crc & 0x0fu];
    }
    return ~crc;
}

size_t wb_cobs_encode(const uint8_t *in, size_t n, uint8_t *out, size_t cap)
{
    size_t code_at = 0, o = 1;
    uint8_t code = 1;
    if (cap == 0) {
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        if (in[i] != 0) {
            if (o >= cap) {
                return 0;
            }
            out[o++] = in[i];
            code++;
        }
        if (in[i] == 0 || code == 0xff) {
            out[code_at] = code;
            code = 1;
            code_at = o;
            if (o >= cap) {
                return 0;
            }
            o++;
        }
    }
    out[code_at] = code;
    return o;
}

size_t wb_cobs_decode(const uint8_t *in, size_t n, uint8_t *out, size_t cap)
{
    size_t i = 0, o = 0;
    while (i < n) {
        uint8_t code = in[i++];
        if (code == 0) {
            return 0;                 /* a delimiter cannot occur inside a frame */
        }
        for (uint8_t j = 1; j < code; j++) {
            if (i >= n || o >= cap || in[i] == 0) {
                return 0;
            }
            out[o++] = in[i++];
        }
        if (code != 0xff && i < n) {
            if (o >= cap) {
                return 0;
            }
            out[o++] = 0;
        }
    }
    return o;
}

static void put_u16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void put_u32(uint8_t *p, uint32_t v) { put_u16(p, (uint16_t)v); put_u16(p + 2, (uint16_t)(v >> 16)); }
static uint32_t get_u32(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }

size_t wb_frame_encode(uint8_t type, uint8_t seq, const uint8_t *payload, uint16_t len, uint8_t *out, size_t cap)
{
    uint8_t raw[WB_MAX_FRAME];
    if (len > WB_MAX_PAYLOAD) {
        return 0;
    }
    raw[0] = type;
    raw[1] = seq;
    put_u16(raw + 2, len);
    if (len) {
        memcpy(raw + WB_FRAME_HEADER, payload, len);
    }
    put_u32(raw + WB_FRAME_HEADER + len, wb_crc32(0, raw, WB_FRAME_HEADER + len));
    size_t n = wb_cobs_encode(raw, WB_FRAME_HEADER + len + WB_FRAME_CRC, out, cap);
    if (n == 0 || n >= cap) {
        return 0;
    }
    out[n] = 0x00;
    return n + 1;
}

void wb_rx_init(wb_rx_t *rx)
{
    rx->len = 0;
    rx->overflow = 0;
}

int wb_rx_feed(wb_rx_t *rx, uint8_t byte, wb_frame_t *out)
{
    if (byte != 0x00) {
        if (rx->len < sizeof rx->buf) {
            rx->buf[rx->len++] = byte;
        } else {
            rx->overflow = 1;
        }
        return WB_RX_NONE;
    }
    /* Delimiter: decode what came since the last one. */
    size_t n = rx->len;
    uint8_t overflow = rx->overflow;
    wb_rx_init(rx);
    if (n == 0) {
        return WB_RX_NONE;            /* back-to-back delimiters are idle fill, not an error */
    }
    if (overflow) {
        return WB_RX_BAD_FRAME;
    }
    uint8_t raw[WB_MAX_FRAME];
    size_t m = wb_cobs_decode(rx->buf, n, raw, sizeof raw);
    if (m < WB_FRAME_HEADER + WB_FRAME_CRC) {
        return WB_RX_BAD_FRAME;
    }
    uint16_t len = (uint16_t)(raw[2] | raw[3] << 8);
    if (len > WB_MAX_PAYLOAD || (size_t)len + WB_FRAME_HEADER + WB_FRAME_CRC != m) {
        return WB_RX_BAD_FRAME;
    }
    out->type = raw[0];
    out->seq = raw[1];
    out->len = len;
    if (get_u32(raw + WB_FRAME_HEADER + len) != wb_crc32(0, raw, WB_FRAME_HEADER + len)) {
        return WB_RX_BAD_CRC;
    }
    memcpy(out->payload, raw + WB_FRAME_HEADER, len);
    return WB_RX_FRAME;
}

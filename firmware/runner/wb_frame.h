/*
 * wb_frame.h - framing for protocol v1: CRC-32, COBS, and a byte-at-a-time receiver.
 * Pure functions over caller-owned buffers; every length is checked against its buffer.
 */
#ifndef WB_FRAME_H
#define WB_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "wb_proto.h"

typedef struct {
    uint8_t type;
    uint8_t seq;
    uint16_t len;
    uint8_t payload[WB_MAX_PAYLOAD];
} wb_frame_t;

typedef struct {
    uint8_t buf[WB_MAX_ENCODED];
    size_t len;
    uint8_t overflow;   /* the current frame outgrew buf: drop bytes until the next delimiter */
} wb_rx_t;

enum {
    WB_RX_NONE = 0,     /* need more bytes */
    WB_RX_FRAME,        /* a good frame is in *out */
    WB_RX_BAD_CRC,      /* decoded, CRC mismatch (out->type/seq hold what arrived) */
    WB_RX_BAD_FRAME,    /* COBS error, too short, too long, or length field mismatch */
};

uint32_t wb_crc32(uint32_t crc, const uint8_t *data, size_t len);

/* COBS encode n bytes into out (cap bytes); returns bytes written (no delimiter) or 0 if cap is short. */
size_t wb_cobs_encode(const uint8_t *in, size_t n, uint8_t *out, size_t cap);
/* COBS decode n bytes (no delimiter) into out; returns bytes written, or 0 on malformed input/overflow. */
size_t wb_cobs_decode(const uint8_t *in, size_t n, uint8_t *out, size_t cap);

/* Build type|seq|len|payload|crc, COBS-encode it and append 0x00. Returns total bytes, 0 if it does not fit. */
size_t wb_frame_encode(uint8_t type, uint8_t seq, const uint8_t *payload, uint16_t len, uint8_t *out, size_t cap);

void wb_rx_init(wb_rx_t *rx);
/* Feed one received byte; returns a WB_RX_* code. */
int wb_rx_feed(wb_rx_t *rx, uint8_t byte, wb_frame_t *out);

#endif /* WB_FRAME_H */

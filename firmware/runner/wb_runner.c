/*
 * The device runner: protocol v1 over the port's serial link, driving the model glue.
 *
 * One request at a time: decode a frame, act, answer. The last answer stays encoded in `tx` so a
 * retransmitted request (same seq, type and payload) is answered again without a second computation.
 * A different request that merely reuses the seq (a host that restarted its numbering) is computed.
 * NAKs for frames that fail their CRC go out from their own buffer and leave that cache alone.
 *
 * Every frame the runner sends is preceded by one 0x00: if the host lost the delimiter of the frame
 * before, this one still decodes (an empty frame is idle fill to both sides).
 *
 * Host data is parsed only here and in wb_frame.c; both are fuzzed on the host with a stub port and
 * glue (tests/fuzz/). wb_runner_init() + wb_runner_feed() are the whole runner; main() only polls.
 */
#include <string.h>

#include "sharnn.h"
#include "wb_count.h"
#include "wb_frame.h"
#include "wb_model.h"
#include "wb_model_config.h"
#include "wb_port.h"
#include "wb_proto.h"
#include "wb_runner.h"
#include "wb_stage.h"

/* STATS: eight counters; two cores add core 1's peak stack and stack size. */
#define STATS_WORDS (WB_CORES == 2 ? 10u : 8u)

/* Every answer must fit the response buffer: a model whose logits do not is refused at compile time. */
#ifdef WB_MODEL_OUTPUT_BYTES
_Static_assert(WB_RESULT_HEADER + WB_MODEL_OUTPUT_BYTES <= WB_MAX_PAYLOAD, "logits do not fit one answer frame");
#endif
_Static_assert(WB_HELLO_BOARD + WB_HELLO_BOARD_MAX <= WB_MAX_PAYLOAD, "HELLO does not fit one answer frame");
_Static_assert(4u * STATS_WORDS <= WB_MAX_PAYLOAD, "STATS does not fit one answer frame");
_Static_assert(4u + 4u * (WB_STAGE_COUNT + 1u) <= WB_MAX_PAYLOAD, "STAGES does not fit one answer frame");

#if defined(WB_BREAKDOWN)
#define STAGE_CAPS WB_CAP_STAGES
#else
#define STAGE_CAPS 0u
#endif

static wb_rx_t rx;
static wb_frame_t req;
static uint8_t tx[WB_MAX_ENCODED];       /* last answer, encoded: the duplicate cache */
static size_t tx_len;
static int last_seq = -1;                /* the cached answer's request: seq, type, length, payload CRC */
static uint8_t last_type;
static uint16_t last_len;
static uint32_t last_crc;
static uint8_t nak[32];
static uint32_t staging[(WB_MODEL_INPUT_BYTES + 3u) / 4u];  /* the window (or brick) being sent */
static uint32_t rsp_words[WB_MAX_PAYLOAD / 4u];            /* word-aligned: logits are stored as floats */
static uint8_t *const rsp = (uint8_t *)rsp_words;

static struct {
    uint32_t frames_ok, crc_errors, frame_errors, duplicates, infers, streams, stack_peak;
} stats;

static void put_u16(uint8_t *p, uint32_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void put_u32(uint8_t *p, uint32_t v) { put_u16(p, v & 0xffffu); put_u16(p + 2, v >> 16); }
static uint32_t get_u32(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }

static uint16_t error_payload(uint8_t code, uint8_t request_type, uint16_t detail)
{
    rsp[0] = code;
    rsp[1] = request_type;
    put_u16(rsp + 2, detail);
    return 4;
}

static uint16_t hello(void)
{
    const wb_model_info_t *m = &wb_model_info;
    const char *board = wb_port_board();
    size_t blen = strlen(board);
    if (blen > WB_HELLO_BOARD_MAX) {
        blen = WB_HELLO_BOARD_MAX;
    }
    memset(rsp, 0, WB_HELLO_BOARD);
    rsp[0] = WB_PROTO_VERSION;
    rsp[1] = SHARNN_VERSION_MAJOR;
    rsp[2] = SHARNN_VERSION_MINOR;
    rsp[3] = (uint8_t)(m->caps | wb_port_caps() | STAGE_CAPS);
    put_u16(rsp + 4, WB_MAX_PAYLOAD);
    put_u16(rsp + 6, m->window);
    put_u16(rsp + 8, m->input_dim);
    put_u16(rsp + 10, m->k);
    put_u16(rsp + 12, m->num_classes);
    rsp[14] = m->levels;
    rsp[15] = m->input_dtype;
    rsp[16] = m->output_dtype;
    rsp[17] = wb_port_counter_kind();
    rsp[18] = m->cores;
    rsp[19] = m->core0_bricks;
    put_u32(rsp + 20, wb_port_counter_hz());
    put_u32(rsp + 24, (uint32_t)wb_port_stack_size());
    put_u32(rsp + 28, m->state_bytes);
    put_u32(rsp + 32, (uint32_t)sizeof staging);
    memcpy(rsp + WB_HELLO_HASH, m->hash, WB_HELLO_BOARD_LEN - WB_HELLO_HASH);
    rsp[WB_HELLO_BOARD_LEN] = (uint8_t)blen;
    memcpy(rsp + WB_HELLO_BOARD, board, blen);
    return (uint16_t)(WB_HELLO_BOARD + blen);
}

/* Run one inference (full window, or a stream push of the brick at `brick_offset` bytes into
 * staging) between the counters and the stack paint. */
static uint16_t run_measured(int stream_push, uint32_t brick_offset)
{
    uint8_t *logits = rsp + WB_RESULT_HEADER;
    uintptr_t frame = (uintptr_t)__builtin_frame_address(0);
    int valid = 1;

    wb_port_stack_paint();
    uint32_t t0 = wb_port_counter();
#if defined(WB_BREAKDOWN)
    wb_stage_window_begin(t0);
#endif
    wb_count_begin();
    if (stream_push) {
        valid = wb_model_stream_push((const uint8_t *)staging + brick_offset, logits);
    } else {
        wb_model_infer(staging, logits);
    }
    wb_count_end();
    uint32_t t1 = wb_port_counter();
#if defined(WB_BREAKDOWN)
    wb_stage_window_end(t1);
#endif

    uintptr_t low = wb_port_stack_low_water();
    uint32_t used = (low != 0 && low < frame) ? (uint32_t)(frame - low) : 0;
    if (low != 0 && wb_port_stack_top() - low > stats.stack_peak) {
        stats.stack_peak = (uint32_t)(wb_port_stack_top() - low);
    }
    uint16_t out_bytes = (uint16_t)(wb_model_info.num_classes * wb_model_info.output_elem_bytes);
    if (!valid) {
        memset(logits, 0, out_bytes);
    }
    rsp[0] = (uint8_t)valid;
    rsp[1] = rsp[2] = rsp[3] = 0;
    put_u32(rsp + 4, t1 - t0);
    put_u32(rsp + 8, used);
    return (uint16_t)(WB_RESULT_HEADER + out_bytes);
}

/* A frame behind its resynchronising 0x00. */
static void send_frame(const uint8_t *frame, size_t len)
{
    static const uint8_t delimiter = 0x00;
    wb_port_write(&delimiter, 1);
    wb_port_write(frame, len);
}

static void reply(uint8_t type, uint8_t seq, uint16_t len)
{
    tx_len = wb_frame_encode(type, seq, rsp, len, tx, sizeof tx);
    last_seq = seq;
    send_frame(tx, tx_len);
}

static void send_nak(uint8_t code, uint8_t seq, uint8_t type)
{
    uint8_t p[4] = { code, type, 0, 0 };
    size_t n = wb_frame_encode(WB_RSP_ERROR, seq, p, sizeof p, nak, sizeof nak);
    send_frame(nak, n);
}

static void handle(const wb_frame_t *f)
{
    uint32_t crc = wb_crc32(0, f->payload, f->len);
    if (f->type != WB_REQ_HELLO && (int)f->seq == last_seq && f->type == last_type && f->len == last_len &&
        crc == last_crc) {
        stats.duplicates++;
        send_frame(tx, tx_len);       /* the cached answer, never a second computation */
        return;
    }
    uint8_t type = (uint8_t)(f->type | WB_RESPONSE);
    uint16_t n = 0;
    int exit_code = -1;

    switch (f->type) {
    case WB_REQ_HELLO:
        n = hello();
        break;
    case WB_REQ_WRITE: {
        uint32_t off = f->len >= 4 ? get_u32(f->payload) : 0;
        uint32_t len = f->len >= 4 ? f->len - 4u : 0;
        if (f->len < 4) {
            type = WB_RSP_ERROR;
            n = error_payload(WB_ERR_LENGTH, f->type, f->len);
        } else if (off > sizeof staging || len > sizeof staging - off) {
            type = WB_RSP_ERROR;
            n = error_payload(WB_ERR_RANGE, f->type, (uint16_t)len);
        } else {
            memcpy((uint8_t *)staging + off, f->payload + 4, len);
            put_u32(rsp, off);
            put_u16(rsp + 4, len);
            n = 6;
        }
        break;
    }
    case WB_REQ_INFER:
        stats.infers++;
        n = run_measured(0, 0);
        break;
    case WB_REQ_STREAM: {
        /* Optional offset:u32 of the brick in staging: a window already sent for INFER can be
         * streamed brick by brick without sending it again. */
        uint32_t off = f->len >= 4 ? get_u32(f->payload) : 0;
        uint32_t brick = (uint32_t)wb_model_info.k * wb_model_info.input_dim * wb_model_info.input_elem_bytes;
        if (!(wb_model_info.caps & WB_CAP_STREAM)) {
            type = WB_RSP_ERROR;
            n = error_payload(WB_ERR_UNSUPPORTED, f->type, 0);
        } else if (f->len != 0 && f->len != 4) {
            type = WB_RSP_ERROR;
            n = error_payload(WB_ERR_LENGTH, f->type, f->len);
        } else if (off > sizeof staging || brick > sizeof staging - off || (off % 4u) != 0) {
            type = WB_RSP_ERROR;
            n = error_payload(WB_ERR_RANGE, f->type, (uint16_t)off);
        } else {
            stats.streams++;
            n = run_measured(1, off);
        }
        break;
    }
    case WB_REQ_STATS: {
        const uint32_t v[STATS_WORDS] = { stats.frames_ok, stats.crc_errors, stats.frame_errors, stats.duplicates,
                                          stats.infers, stats.streams, stats.stack_peak,
                                          (uint32_t)wb_port_stack_size(),
#if WB_CORES == 2
                                          wb_par_core1_stack_peak(), (uint32_t)wb_par_core1_stack_size(),
#endif
        };
        for (unsigned i = 0; i < STATS_WORDS; i++) {
            put_u32(rsp + 4 * i, v[i]);
        }
        n = 4u * STATS_WORDS;
        break;
    }
    case WB_REQ_STAGES: {
#if defined(WB_BREAKDOWN)
        const uint32_t *c = wb_stage_cycles();
        rsp[0] = (uint8_t)(WB_STAGE_COUNT + 1u);
        rsp[1] = rsp[2] = rsp[3] = 0;
        for (unsigned i = 0; i <= WB_STAGE_COUNT; i++) {
            put_u32(rsp + 4 + 4 * i, c[i]);
        }
        n = (uint16_t)(4u + 4u * (WB_STAGE_COUNT + 1u));
#else
        type = WB_RSP_ERROR;
        n = error_payload(WB_ERR_UNSUPPORTED, f->type, 0);
#endif
        break;
    }
    case WB_REQ_RESET:
        wb_model_stream_reset();   /* counters stay: they describe the whole session */
        break;
    case WB_REQ_EXIT:
        exit_code = f->len >= 1 ? f->payload[0] : 0;
        break;
    default:
        type = WB_RSP_ERROR;
        n = error_payload(WB_ERR_TYPE, f->type, 0);
        break;
    }
    last_type = f->type;
    last_len = f->len;
    last_crc = crc;
    reply(type, f->seq, n);
    if (exit_code >= 0) {
        wb_port_exit(exit_code);
    }
}

void wb_runner_init(void)
{
    wb_model_init();
    wb_rx_init(&rx);
}

/* One received byte: frames are acted on at their delimiter. */
void wb_runner_feed(uint8_t c)
{
    switch (wb_rx_feed(&rx, c, &req)) {
    case WB_RX_FRAME:
        stats.frames_ok++;
        handle(&req);
        break;
    case WB_RX_BAD_CRC:
        stats.crc_errors++;
        send_nak(WB_ERR_CRC, req.seq, req.type);
        break;
    case WB_RX_BAD_FRAME:
        stats.frame_errors++;
        send_nak(WB_ERR_FRAME, 0, 0);
        break;
    default:
        break;
    }
}

#ifndef WB_RUNNER_NO_MAIN
int main(void)
{
    wb_port_init();
    wb_runner_init();
    for (;;) {
        int c = wb_port_getc();
        if (c < 0) {
            wb_port_idle();
            continue;
        }
        wb_runner_feed((uint8_t)c);
    }
}
#endif

/*
 * libFuzzer harness: the device runner's handling of host data (firmware/runner/wb_runner.c, built
 * for this machine with a stub port and a stub model glue), driven byte by byte as the port does.
 *
 * Input: the first byte picks a mode. Odd: the rest is raw line bytes. Even: the rest is a script of
 * records, so the fuzzer reaches the request handlers past the CRC:
 *   0 type seq len payload[len]   a well-formed frame (leading 0x00, valid CRC)
 *   1 n bytes[n]                  raw bytes on the line
 *   2 type seq len payload bit    the same frame with one bit flipped
 *   3                             the last well-formed frame again (a retransmission)
 *
 * Checked besides ASan/UBSan: every byte the runner sends belongs to a well-formed frame with a valid
 * CRC; each request gets exactly one answer, with its seq and type (or an error); a retransmitted
 * request (the same frame again) never runs the model again; the glue only ever reads inside the
 * staging buffer (ASan on the static array).
 */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define WB_RUNNER_NO_MAIN 1
#include "wb_runner.c"   /* the runner itself: its statics are reset between inputs */

/* -- stub port ------------------------------------------------------------------------------------ */
static wb_rx_t out_rx;          /* decodes what the runner sends */
static wb_frame_t out_frame;
static int answers;
static int last_answer_seq;
static uint8_t last_answer_type;

void wb_port_init(void) {}
int wb_port_getc(void) { return -1; }
void wb_port_idle(void) {}
void wb_port_write(const uint8_t *data, size_t len)
{
    assert(len <= WB_MAX_ENCODED);
    for (size_t i = 0; i < len; i++) {
        int r = wb_rx_feed(&out_rx, data[i], &out_frame);
        assert(r == WB_RX_NONE || r == WB_RX_FRAME);   /* the runner never sends a broken frame */
        if (r == WB_RX_FRAME) {
            answers++;
            last_answer_seq = out_frame.seq;
            last_answer_type = out_frame.type;
        }
    }
}
uint32_t wb_port_counter(void) { return 0; }
uint8_t wb_port_counter_kind(void) { return WB_COUNTER_NONE; }
uint32_t wb_port_counter_hz(void) { return 0; }
void wb_port_stack_paint(void) {}
uintptr_t wb_port_stack_low_water(void) { return 0; }
uintptr_t wb_port_stack_top(void) { return 0; }
size_t wb_port_stack_size(void) { return 0; }
static int exits;
void wb_port_exit(int code) { (void)code; exits++; }
const char *wb_port_board(void) { return "fuzz-host"; }
uint32_t wb_port_caps(void) { return WB_CAP_EXIT; }

/* -- stub model glue: reads exactly its inputs, writes exactly its outputs ------------------------ */
static unsigned computed;
static unsigned pushed;
const wb_model_info_t wb_model_info = {
    .hash = WB_MODEL_HASH_BYTES, .window = WB_MODEL_WINDOW, .input_dim = WB_MODEL_INPUT_DIM, .k = WB_MODEL_K,
    .num_classes = WB_MODEL_NUM_CLASSES, .levels = WB_MODEL_LEVELS, .input_dtype = WB_DTYPE_F32,
    .output_dtype = WB_DTYPE_F32, .input_elem_bytes = 4, .output_elem_bytes = 4,
    .caps = WB_CAP_INFER | WB_CAP_STREAM, .state_bytes = 0,
};
void wb_model_init(void) { pushed = 0; }
static float sum_bytes(const void *p, size_t n)
{
    const volatile uint8_t *b = p;
    float s = 0;
    for (size_t i = 0; i < n; i++) {
        s += b[i];
    }
    return s;
}
void wb_model_infer(const void *window, void *logits)
{
    float s = sum_bytes(window, WB_MODEL_INPUT_BYTES);
    for (int i = 0; i < WB_MODEL_NUM_CLASSES; i++) {
        ((float *)logits)[i] = s + (float)i;
    }
    computed++;
}
int wb_model_stream_push(const void *brick, void *logits)
{
    float s = sum_bytes(brick, (size_t)WB_MODEL_K * WB_MODEL_INPUT_DIM * 4u);
    for (int i = 0; i < WB_MODEL_NUM_CLASSES; i++) {
        ((float *)logits)[i] = s;
    }
    computed++;
    return ++pushed >= WB_MODEL_WINDOW / WB_MODEL_K;
}
void wb_model_stream_reset(void) { pushed = 0; }

/* -- driver --------------------------------------------------------------------------------------- */
static void reset_all(void)
{
    memset(&stats, 0, sizeof stats);
    memset(staging, 0, sizeof staging);
    last_seq = -1;
    tx_len = 0;
    wb_rx_init(&out_rx);
    answers = 0;
    computed = 0;
    exits = 0;
    wb_runner_init();
}

static void feed(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        wb_runner_feed(p[i]);
    }
}

/* Send one well-formed request and check what the runner did with it. */
/* known: the device's last request is the harness's last; repeat: this frame equals that one. */
static void request(const uint8_t *wire, size_t n, uint8_t type, uint8_t seq, int known, int repeat)
{
    uint8_t zero = 0;
    feed(&zero, 1);                 /* resynchronise: ends (and NAKs) whatever garbage came before */
    unsigned computed_before = computed;
    int answers_before = answers;
    feed(wire, n);
    assert(answers == answers_before + 1);                 /* one answer per request */
    assert(last_answer_seq == seq);
    assert(last_answer_type == (uint8_t)(type | WB_RESPONSE) || last_answer_type == WB_RSP_ERROR);
    if (known && repeat) {
        assert(computed == computed_before);               /* never a second computation */
    }
    if (known && !repeat && type == WB_REQ_INFER) {
        assert(computed == computed_before + 1);           /* a new request is never taken for a copy */
    }
    assert(computed <= computed_before + 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t wire[WB_MAX_ENCODED], last_wire[WB_MAX_ENCODED];
    static size_t last_n;
    static uint8_t last_type, last_seq_sent;
    int last_known = 1;     /* no raw or corrupt bytes since the last request: its frame is the device's last */
    reset_all();
    last_n = 0;
    if (size == 0) {
        return 0;
    }
    if (data[0] & 1u) {
        feed(data + 1, size - 1);
        return 0;
    }
    size_t i = 1;
    while (i < size) {
        uint8_t op = data[i++] % 4u;
        if (op == 1) {
            size_t n = i < size ? data[i++] : 0;
            n = n > size - i ? size - i : n;
            feed(data + i, n);
            i += n;
            last_known = 0;   /* raw bytes may form a valid frame (libFuzzer solves CRC compares) */
        } else if (op == 3) {
            if (last_n) {
                request(last_wire, last_n, last_type, last_seq_sent, last_known, last_type != WB_REQ_HELLO);
                last_known = 1;
            }
        } else {
            if (size - i < 3) {
                break;
            }
            /* Mostly known request types, sometimes anything. */
            uint8_t type = data[i] < 0xf0 ? (uint8_t)(1u + data[i] % 8u) : data[i];
            uint8_t seq = data[i + 1];
            size_t len = data[i + 2];
            i += 3;
            len = len > size - i ? size - i : len;
            size_t n = wb_frame_encode(type, seq, data + i, (uint16_t)len, wire, sizeof wire);
            assert(n > 0);
            i += len;
            if (op == 0) {
                int same = last_n && n == last_n && memcmp(wire, last_wire, n) == 0 && type != WB_REQ_HELLO;
                request(wire, n, type, seq, last_known, same);
                last_known = 1;
                memcpy(last_wire, wire, n);
                last_n = n;
                last_type = type;
                last_seq_sent = seq;
            } else {
                uint8_t bit = i < size ? data[i++] : 0;
                size_t at = (bit >> 3) % (n - 1);                  /* never the delimiter */
                wire[at] ^= (uint8_t)(1u << (bit & 7u));
                uint8_t zero = 0;
                feed(&zero, 1);
                feed(wire, n);
                last_known = 0;
            }
        }
    }
    return 0;
}

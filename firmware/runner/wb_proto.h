/*
 * wb_proto.h - serial protocol v1 between the workbench host and a device runner.
 *
 * Wire: each frame is COBS-encoded and ends with 0x00, so a receiver resynchronises at the next 0x00
 * after garbage. Decoded frame (little-endian):
 *
 *   type:u8 | seq:u8 | len:u16 | payload[len] | crc32:u32
 *
 * crc32 is CRC-32/ISO-HDLC (zlib's crc32) over type..payload. A response carries the request's seq
 * and type | WB_RESPONSE, or type WB_RSP_ERROR with { code:u8, request_type:u8, detail:u16 }.
 * A request equal to the previous one (same seq, type and payload: a retransmission) is answered
 * from the cached response, never recomputed. Every frame may be preceded by extra 0x00 bytes (both
 * sides send one before each frame, so a frame that follows a lost delimiter still decodes). The Python side (workbench/link/protocol.py) reads these numbers from this header.
 */
#ifndef WB_PROTO_H
#define WB_PROTO_H

#define WB_PROTO_VERSION 1

#define WB_MAX_PAYLOAD 256u                       /* device receive buffer: chunks are never larger */
#define WB_FRAME_HEADER 4u
#define WB_FRAME_CRC 4u
#define WB_MAX_FRAME (WB_FRAME_HEADER + WB_MAX_PAYLOAD + WB_FRAME_CRC)
#define WB_MAX_ENCODED (WB_MAX_FRAME + WB_MAX_FRAME / 254u + 2u) /* COBS overhead + delimiter */

/* Requests (host -> device). Responses use type | WB_RESPONSE. */
#define WB_REQ_HELLO 0x01   /* -> the HELLO answer below */
#define WB_REQ_WRITE 0x02   /* offset:u32, bytes -> offset:u32, len:u16 (into the input staging buffer) */
#define WB_REQ_INFER 0x03   /* run the full window in staging -> a result (below) */
#define WB_REQ_STREAM 0x04  /* [offset:u32] push the k steps at staging+offset (default 0) -> result */
#define WB_REQ_STATS 0x05   /* -> counters */
#define WB_REQ_RESET 0x06   /* empty the stream ring (counters keep counting) */
#define WB_REQ_EXIT 0x07    /* code:u8 -> ack, then the port stops (emulators exit with code) */
#define WB_REQ_STAGES 0x08  /* -> count:u8, reserved:u8[3], count x u32: the last inference's counter ticks
                               per stage (lower, upper, head, io, other, checkpoints); --breakdown firmware */
#define WB_RESPONSE 0x80
#define WB_RSP_ERROR 0xFF
#define WB_RSP_FAULT 0xFE   /* device -> host, unsolicited, seq 0: the core faulted (payload below); then the
                               device reboots (hardware) or ends the emulator */

/* Fault report: WB_FAULT_WORDS little-endian u32: exception number (IPSR), pc, lr, cfsr, hfsr, mmfar, bfar,
 * and the OS's reason code (Zephyr's fatal error reason; WB_FAULT_NO_REASON where there is none). */
#define WB_FAULT_WORDS 8u
#define WB_FAULT_NO_REASON 0xFFFFFFFF

/* HELLO answer (little-endian): version:u8, kernel major:u8, minor:u8, caps:u8, max payload:u16, T:u16, D:u16,
 * k:u16, classes:u16, levels:u8, input dtype:u8, output dtype:u8, counter kind:u8, cores:u8, core 0's bricks:u8,
 * counter hz:u32, stack size:u32, model state bytes:u32, staging bytes:u32 (WB_HELLO_HASH bytes in all),
 * then the model hash, the board name's length and the board name. */
#define WB_HELLO_HASH 36u          /* offset of the model hash (8 bytes) */
#define WB_HELLO_BOARD_LEN 44u     /* offset of the board name's length (u8) */
#define WB_HELLO_BOARD 45u         /* offset of the board name */
#define WB_HELLO_BOARD_MAX 64u     /* longest board name sent */

/* Result of INFER/STREAM: valid:u8, reserved:u8[3], counter ticks:u32, stack bytes:u32, then the logits. */
#define WB_RESULT_HEADER 12u

/* Error codes carried by WB_RSP_ERROR. */
#define WB_ERR_CRC 1          /* frame failed its CRC: the host retransmits */
#define WB_ERR_FRAME 2        /* undecodable COBS or a length that does not match */
#define WB_ERR_TYPE 3         /* unknown request type */
#define WB_ERR_RANGE 4        /* WRITE outside the staging buffer */
#define WB_ERR_LENGTH 5       /* payload length wrong for the request */
#define WB_ERR_UNSUPPORTED 6  /* the build cannot do this (e.g. stream on a single-level model) */

/* Capability bits in HELLO. */
#define WB_CAP_INFER 0x01u
#define WB_CAP_STREAM 0x02u
#define WB_CAP_DSP 0x04u
#define WB_CAP_FPU 0x08u
#define WB_CAP_EXIT 0x10u
#define WB_CAP_STACK_PAINT 0x20u
#define WB_CAP_STAGES 0x40u   /* stage checkpoints built in (--breakdown): WB_REQ_STAGES answers */

/* Element types of inputs and outputs. */
#define WB_DTYPE_F32 0
#define WB_DTYPE_I16 1
#define WB_DTYPE_I32 2
#define WB_DTYPE_I8 3

/* What the counter in results counts. */
#define WB_COUNTER_NONE 0
#define WB_COUNTER_SYSTICK 1  /* SysTick at the core clock (under QEMU -icount: virtual time) */
#define WB_COUNTER_DWT 2      /* DWT CYCCNT: core cycles on hardware */
#define WB_COUNTER_HOST_NS 3  /* host port: monotonic nanoseconds */
#define WB_COUNTER_OS 4       /* an RTOS's own cycle counter (Zephyr k_cycle_get_32) at counter_hz */

#endif /* WB_PROTO_H */

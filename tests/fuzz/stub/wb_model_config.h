/* A small model shape for the runner fuzz harness (what `workbench export` would generate). */
#ifndef WB_MODEL_CONFIG_H
#define WB_MODEL_CONFIG_H

#define WB_MODEL_QUANT_F32 1
#define WB_MODEL_WINDOW 8
#define WB_MODEL_INPUT_DIM 3
#define WB_MODEL_K 2
#define WB_MODEL_LEVELS 2
#define WB_MODEL_NUM_CLASSES 4
#define WB_MODEL_SCRATCH_LEN 16
#define WB_MODEL_STREAM_LEN 16
#define WB_MODEL_HASH_BYTES { 0xf0, 0x22, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01 }
#define WB_MODEL_INPUT_BYTES (WB_MODEL_WINDOW * WB_MODEL_INPUT_DIM * 4)
#define WB_MODEL_OUTPUT_BYTES (WB_MODEL_NUM_CLASSES * 4)

#endif

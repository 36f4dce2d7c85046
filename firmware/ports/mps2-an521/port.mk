# mps2-an521 (QEMU): Arm SSE-200 with two Cortex-M33, FPU and DSP on both (the board file tells QEMU:
# its SSE-200 model leaves them off CPU 0, as on the AN521 FPGA), hard-float ABI, Secure state only.
# CORES=2 starts core 1 and splits the lower level's bricks across both (runner/wb_parallel.c).
PORT_CPU := -mcpu=cortex-m33 -mthumb -mfloat-abi=hard -mfpu=fpv5-sp-d16
PORT_SRCS := $(PORT_DIR)/port.c $(CM_DIR)/cmsdk_uart.c $(CM_DIR)/cm.c $(CM_DIR)/startup.c $(CM_DIR)/cm_port_common.c
PORT_LD := $(PORT_DIR)/link.ld
PORT_INC := -I$(CM_DIR)
PORT_CFLAGS := -DCMSDK_UART_BASE=0x50200000u -DCMSDK_UART_RX_IRQ=33
# semihost: the link through QEMU semihosting (../cortex-m/link_semihost.c), emulator only
PORT_LINKS := uart semihost
PORT_CORES := 1 2
ifeq ($(CORES),2)
PORT_SRCS += $(PORT_DIR)/core1.c
STACK1_SIZE ?= 2048
else
STACK1_SIZE := 0
endif
PORT_LDFLAGS := -Wl,--defsym=__stack1_size=$(STACK1_SIZE)

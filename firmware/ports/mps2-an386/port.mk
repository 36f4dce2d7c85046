# mps2-an386 (QEMU): Cortex-M4F, hard-float ABI.
PORT_CPU := -mcpu=cortex-m4 -mthumb -mfloat-abi=hard -mfpu=fpv4-sp-d16
PORT_SRCS := $(PORT_DIR)/port.c $(CM_DIR)/cmsdk_uart.c $(CM_DIR)/cm.c $(CM_DIR)/startup.c $(CM_DIR)/cm_port_common.c
PORT_LD := $(PORT_DIR)/link.ld
PORT_INC := -I$(CM_DIR)
PORT_CFLAGS := -DCMSDK_UART_BASE=0x40004000u -DCMSDK_UART_RX_IRQ=0
# semihost: the link through QEMU semihosting (../cortex-m/link_semihost.c), emulator only
PORT_LINKS := uart semihost

# netduinoplus2 (QEMU's STM32F405 machine): Cortex-M4F, hard-float ABI.
PORT_CPU := -mcpu=cortex-m4 -mthumb -mfloat-abi=hard -mfpu=fpv4-sp-d16
PORT_SRCS := $(PORT_DIR)/port.c $(CM_DIR)/cm.c $(CM_DIR)/startup.c $(CM_DIR)/cm_port_common.c
PORT_LD := $(PORT_DIR)/link.ld
PORT_INC := -I$(CM_DIR)

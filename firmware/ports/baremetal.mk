# Builds the device runner + sharnn kernel + an exported model for one bare-metal port.
#
#   make -f firmware/ports/baremetal.mk PORT=mps2-an386 MODEL_DIR=<export dir> OUT=<build dir> STACK_SIZE=4096
#       [QUANT=f32] [LINK=uart|semihost] [CORES=1|2]
#
# STACK_SIZE: bytes reserved for the stack (workbench passes workbench.build.baremetal.STACK_BYTES).
#
# LINK: the runner's byte link. uart (default) is the board's UART, as on hardware; semihost carries the
# same frames through Arm semihosting (ports/cortex-m/link_semihost.c), for emulated ports that list
# it in PORT_LINKS.
#
# CORES=2 (ports that list it in PORT_CORES): a ShaRNN window's lower-level bricks run on two cores
# (runner/wb_parallel.c); the port starts its second core.
# BREAKDOWN=1: stage checkpoints (runner/wb_stage.c): the kernel's composition files are built with
# -finstrument-functions, every other file with -DWB_BREAKDOWN; the host fills the stage table in after
# linking (workbench/targets/stages.py). Per-element helpers (the math and table files, the inline
# headers) are left uninstrumented: their cycles go to their caller's stage.
#
# APP=<folder under firmware/> builds that program (e.g. APP=bench, the kernel benchmark) with the
# kernel and the port instead of the runner and a model (and the model in MODEL_DIR, if it has one).
#
# -ffp-contract=off: no fused multiply-add, so float results equal the same C built for the host.
FW_DIR := $(abspath $(dir $(lastword $(MAKEFILE_LIST)))/..)
PORT_DIR := $(FW_DIR)/ports/$(PORT)
CM_DIR := $(FW_DIR)/ports/cortex-m
QUANT ?= f32
OUT ?= build/$(PORT)

CORES ?= 1
ifeq ($(wildcard $(PORT_DIR)/port.mk),)
$(error unknown bare-metal port '$(PORT)')
endif
include $(PORT_DIR)/port.mk
ifeq ($(STACK_SIZE),)
$(error STACK_SIZE is not set: pass STACK_SIZE=<bytes> (workbench passes its STACK_BYTES))
endif

LINK ?= uart
PORT_LINKS ?= uart
ifeq ($(filter $(LINK),$(PORT_LINKS)),)
$(error port '$(PORT)' has no '$(LINK)' link (it has: $(PORT_LINKS)))
endif
PORT_CORES ?= 1
ifeq ($(filter $(CORES),$(PORT_CORES)),)
$(error port '$(PORT)' cannot run on $(CORES) cores (it has: $(PORT_CORES)))
endif
LINK_CFLAGS :=
ifeq ($(LINK),semihost)
PORT_SRCS += $(CM_DIR)/link_semihost.c
LINK_CFLAGS := -DWB_LINK_SEMIHOST
endif

CROSS ?= arm-none-eabi-
CC := $(CROSS)gcc
OPT ?= -O2

APP ?= runner
KERNEL_SRCS := $(wildcard $(FW_DIR)/sharnn/src/*.c)
ifeq ($(APP),runner)
GLUE_SRC ?= $(FW_DIR)/runner/wb_model_$(QUANT).c    # tests swap in a glue that faults or hangs on purpose
APP_SRCS := $(FW_DIR)/runner/wb_runner.c $(FW_DIR)/runner/wb_frame.c $(GLUE_SRC)
MODEL_SRCS := $(MODEL_DIR)/wb_model_data.c
else
APP_SRCS := $(wildcard $(FW_DIR)/$(APP)/*.c)
MODEL_SRCS := $(wildcard $(MODEL_DIR)/wb_model_data.c)
endif
ifeq ($(CORES),2)
APP_SRCS += $(FW_DIR)/runner/wb_parallel.c
endif
BREAKDOWN ?=
BREAKDOWN_CFLAGS :=
ifeq ($(BREAKDOWN),1)
APP_SRCS += $(FW_DIR)/runner/wb_stage.c
BREAKDOWN_CFLAGS := -DWB_BREAKDOWN
endif
SRCS := $(KERNEL_SRCS) $(APP_SRCS) $(FW_DIR)/runner/wb_count.c $(MODEL_SRCS) $(PORT_SRCS)
OBJS := $(addprefix $(OUT)/obj/,$(notdir $(SRCS:.c=.o)))
ifeq ($(BREAKDOWN),1)
HOOKED_SRCS := $(filter-out %math_f32.c %tables.c,$(KERNEL_SRCS))
$(addprefix $(OUT)/obj/,$(notdir $(HOOKED_SRCS:.c=.o))): HOOK_CFLAGS := -finstrument-functions \
    -finstrument-functions-exclude-file-list=_internal.h,_ring.h
endif
vpath %.c $(sort $(dir $(SRCS)))

CFLAGS := $(PORT_CPU) -std=c99 $(OPT) -g -Wall -Wextra -Werror=implicit-function-declaration \
          -ffp-contract=off -ffunction-sections -fdata-sections -fno-common -fstack-usage \
          -I$(FW_DIR)/sharnn/include -I$(FW_DIR)/runner -I$(MODEL_DIR) $(PORT_INC) $(PORT_CFLAGS) $(LINK_CFLAGS) \
          -DWB_CORES=$(CORES) $(BREAKDOWN_CFLAGS) $(EXTRA_CFLAGS)
LDFLAGS := $(PORT_CPU) -nostartfiles --specs=nano.specs -Wl,--gc-sections -Wl,--no-warn-rwx-segments \
           -L$(CM_DIR) -T$(PORT_LD) -Wl,--defsym=__stack_size=$(STACK_SIZE) $(PORT_LDFLAGS) -Wl,-Map=$(OUT)/firmware.map

# The build depends on its flags, not only on its sources: a folder built again with other flags
# (-DSHARNN_PORTABLE, another -O, another stack size) is rebuilt instead of linking the stale
# objects of the previous flags. The stamp is rewritten only when the flags change (GNU make >= 4.2).
FLAGS_STAMP := $(OUT)/obj/flags.txt
BUILD_FLAGS := $(CC) $(CFLAGS) | $(LDFLAGS)
ifneq ($(file <$(FLAGS_STAMP)),$(BUILD_FLAGS))
$(shell mkdir -p $(OUT)/obj)
$(file >$(FLAGS_STAMP),$(BUILD_FLAGS))
endif

$(OUT)/firmware.elf: $(OBJS) $(FLAGS_STAMP)
	$(CC) $(LDFLAGS) -o $@ $(OBJS) -lc -lgcc

$(OUT)/obj/%.o: %.c | $(OUT)/obj
	$(CC) $(CFLAGS) $(HOOK_CFLAGS) -c -o $@ $<

$(OUT)/obj:
	mkdir -p $@

$(OBJS): $(FLAGS_STAMP) $(if $(MODEL_SRCS),$(MODEL_DIR)/wb_model_config.h) $(wildcard $(FW_DIR)/sharnn/include/*.h $(FW_DIR)/sharnn/src/*.h $(FW_DIR)/runner/*.h $(CM_DIR)/*.h $(PORT_DIR)/*.h)

.PHONY: clean
clean:
	rm -rf $(OUT)

/* The wb_port.h functions every bare-metal Cortex-M port implements the same way. */
#include "cm.h"
#include "wb_port.h"
#include "wb_proto.h"

uint32_t wb_port_counter(void) { return cm_counter_read(); }
uint8_t wb_port_counter_kind(void) { return WB_COUNTER_SYSTICK; }
void wb_port_stack_paint(void) { cm_stack_paint(); }
uintptr_t wb_port_stack_low_water(void) { return cm_stack_low_water(); }
uintptr_t wb_port_stack_top(void) { return cm_stack_top(); }
size_t wb_port_stack_size(void) { return cm_stack_size(); }
void wb_port_exit(int code) { cm_semihost_exit(code); }

uint32_t wb_port_caps(void)
{
    uint32_t caps = WB_CAP_EXIT | WB_CAP_STACK_PAINT;
#if defined(__ARM_FP)
    caps |= WB_CAP_FPU;
#endif
    return caps;
}

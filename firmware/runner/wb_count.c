#include "wb_count.h"

__attribute__((noinline, used)) void wb_count_begin(void) { __asm volatile(""); }
__attribute__((noinline, used)) void wb_count_end(void) { __asm volatile(""); }

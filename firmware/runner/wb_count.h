/*
 * wb_count.h - instruction-count markers: an emulator plugin (workbench/targets/qemu_plugin.py)
 * counts the instructions executed between a return from wb_count_begin() and the call of
 * wb_count_end(). Empty, never inlined, one definition per firmware (wb_count.c).
 */
#ifndef WB_COUNT_H
#define WB_COUNT_H

void wb_count_begin(void);
void wb_count_end(void);

#endif /* WB_COUNT_H */

/*
 * link_semihost.c - the runner's byte link over Arm semihosting instead of the board's UART
 * (build with LINK=semihost; emulators only).
 *
 * Why: QEMU's CMSDK UART model holds one received byte and takes a main-loop round per byte, so an
 * emulated board receives ~20 KiB/s: a 99 x 32 int16 keyword window needs ~0.5 s on the wire and
 * a few milliseconds to compute. Verifying a kernel on every window of a large test set is then
 * bound by the wire. Here the same protocol frames (framing, CRC, sequence numbers: everything above
 * wb_port_getc/write is unchanged) travel through two host FIFOs the emulator opens for the guest:
 * SYS_READ of "wb-link.in" and SYS_WRITE to "wb-link.out", relative to the emulator's working folder.
 *
 * SYS_READ blocks inside the emulator until bytes arrive, so wb_port_getc never returns -1 and
 * wb_port_idle is never needed. End of file on the input (the host closed the link) exits.
 * Nothing of this runs between the count markers: inference costs are those of the UART build.
 */
#include "cm.h"
#include "wb_port.h"

#include <string.h>

#define SYS_OPEN 0x01u
#define SYS_WRITE 0x05u
#define SYS_READ 0x06u
#define OPEN_MODE_RB 1u    /* "rb" */
#define OPEN_MODE_WB 5u    /* "wb" */

static const char link_in_path[] = "wb-link.in";
static const char link_out_path[] = "wb-link.out";

static int link_in = -1;
static int link_out = -1;
static uint8_t rx_buf[256];
static uint32_t rx_len;
static uint32_t rx_pos;

static int semihost_open(const char *path, uint32_t mode)
{
    uint32_t block[3] = { (uint32_t)path, mode, (uint32_t)strlen(path) };
    return cm_semihost(SYS_OPEN, block);
}

/* The input first: the host holds both FIFOs open before the emulator starts, so neither open waits. */
static void link_open(void)
{
    if (link_in < 0) {
        link_in = semihost_open(link_in_path, OPEN_MODE_RB);
        link_out = semihost_open(link_out_path, OPEN_MODE_WB);
        if (link_in < 0 || link_out < 0) {
            cm_semihost_write0("wb: semihosting link: cannot open wb-link.in/wb-link.out\n");
            wb_port_exit(4);
        }
    }
}

int wb_port_getc(void)
{
    if (rx_pos == rx_len) {
        link_open();
        uint32_t block[3] = { (uint32_t)link_in, (uint32_t)rx_buf, sizeof rx_buf };
        /* SYS_READ returns how many bytes were NOT read; one host read() of what is waiting. */
        int unread = cm_semihost(SYS_READ, block);
        if (unread < 0 || (uint32_t)unread >= sizeof rx_buf) {
            wb_port_exit(0);     /* the host closed the link (or the read failed): nothing more will come */
        }
        rx_len = sizeof rx_buf - (uint32_t)unread;
        rx_pos = 0;
    }
    return rx_buf[rx_pos++];
}

void wb_port_write(const uint8_t *data, size_t len)
{
    link_open();
    while (len > 0) {
        uint32_t block[3] = { (uint32_t)link_out, (uint32_t)data, (uint32_t)len };
        int unwritten = cm_semihost(SYS_WRITE, block);
        if (unwritten < 0 || (size_t)unwritten >= len) {
            wb_port_exit(4);     /* the host side is gone */
        }
        data += len - (size_t)unwritten;
        len = (size_t)unwritten;
    }
}

void wb_port_idle(void)
{
}

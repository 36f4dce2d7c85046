/* The streaming ring of brick outputs, shared by the float and integer kernels (private). */
#ifndef SHARNN_RING_H
#define SHARNN_RING_H

#include <stdint.h>

/* The slot the newest brick goes to: the next free one, or the oldest once all `slots` are full
 * (then the ring's head, the oldest brick still inside the window, moves on). */
static inline uint32_t sharnn_ring_next_slot(uint16_t *head, uint16_t *filled, uint32_t slots)
{
    if (*filled == slots) {
        const uint32_t slot = *head;
        *head = (uint16_t)((slot + 1u) % slots);
        return slot;
    }
    return (*head + (*filled)++) % slots;
}

#endif /* SHARNN_RING_H */

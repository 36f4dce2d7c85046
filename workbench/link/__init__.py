"""Link stage: the host side of serial protocol v1 (framing, requests, retransmission)."""

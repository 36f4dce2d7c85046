"""workbench: put a recurrent time-series classifier on a Cortex-M4 and measure it."""

__version__ = "0.1.0"

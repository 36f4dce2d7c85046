"""``RunSpec``: every option of one run, in one place, checked once before anything slow starts.

The CLI's ``run``/``demo``, a sweep's configurations and the Python API all describe a run as a
``RunSpec`` and hand it over whole. ``check()`` refuses what is wrong in itself (a timeout out of
range, an unknown link); ``check_for(board, model)`` what is wrong for this board and model (a link
the target does not have, options Zephyr does not take, a cell the arithmetic has no kernel for).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from workbench.errors import WorkbenchError

KERNEL_PATHS = ("dsp", "portable")       # dsp: SMLAD path where the core has DSP; portable: plain C
COUNTERS = ("plugin", "icount")          # QEMU cost source: exact plugin count, or SysTick under -icount
SPLITS = ("train", "test")
BACKENDS = ("baremetal", "zephyr")
EMULATORS = ("qemu", "renode")
MPY_KERNELS = ("auto", "natmod", "viper", "py")


@dataclass(frozen=True)
class BuildOptions:
    """Compiler knobs of a firmware build (recorded in the profile: they change every cost), and the
    runner's byte link: ``uart`` (the board's UART, as on hardware) or ``semihost`` (the same frames
    through QEMU semihosting, bare metal on QEMU only; much faster than QEMU's UART model)."""

    opt: str = "-O2"
    extra_cflags: str = ""
    link: str = "uart"
    cores: int = 1            # 2: a ShaRNN window's bricks split across two cores (boards with two)
    breakdown: bool = False   # stage checkpoints (runner/wb_stage.c) for boards and Renode

    @property
    def compiler_default(self) -> bool:
        return (self.opt, self.extra_cflags) == ("-O2", "")

    @property
    def tag(self) -> str:
        """A folder name that separates builds with different knobs (make does not track flags)."""
        tag = "" if self.compiler_default else \
            "-" + hashlib.sha256(f"{self.opt}\0{self.extra_cflags}".encode()).hexdigest()[:8]
        return (tag + ("" if self.link == "uart" else f"-{self.link}")
                + ("" if self.cores == 1 else f"-{self.cores}cores") + ("-breakdown" if self.breakdown else ""))

    def check(self, backend: str) -> None:
        from workbench.targets import check_link

        check_link(self.link)
        if backend == "zephyr" and not self.compiler_default:
            raise WorkbenchError("--opt/--cflags apply to bare-metal builds: a Zephyr build takes its optimisation "
                                 "from the app's prj.conf (CONFIG_SPEED_OPTIMIZATIONS, -O2)")
        if backend == "zephyr" and self.link != "uart":
            raise WorkbenchError(f"--link {self.link} is a bare-metal port's link: a Zephyr build talks over the "
                                 "board's UART")


def check_cores(cores: int, board, mf, backend: str) -> None:
    """--cores: at most the board's cores; two split a ShaRNN's bricks, on a bare-metal port."""
    if cores not in (1, 2):
        raise WorkbenchError(f"--cores {cores}: give 1 or 2")
    if cores > board.cores:
        raise WorkbenchError(f"--cores {cores}: board {board.name} has {board.cores} core"
                             + ("s" if board.cores > 1 else ""))
    if cores == 2 and mf.config.get("family") != "sharnn":
        raise WorkbenchError(f"--cores 2 splits a ShaRNN's lower-level bricks across the cores: this model is a "
                             f"single-level {mf.config.get('family')}")
    if cores == 2 and backend != "baremetal":
        raise WorkbenchError("--cores 2 runs on the bare-metal port (the second core is started by it)")


def check_quantization(quant: str) -> str:
    from workbench.quantize import QUANT_SCHEMES

    if quant not in QUANT_SCHEMES:
        raise WorkbenchError(f"quantization '{quant}' is not supported by this build "
                             f"(have: {', '.join(QUANT_SCHEMES)})")
    return quant


def check_kernel_path(kernel_path: str) -> str:
    if kernel_path not in KERNEL_PATHS:
        raise WorkbenchError(f"unknown kernel path '{kernel_path}' (have: {', '.join(KERNEL_PATHS)})")
    return kernel_path


@dataclass(frozen=True)
class RunSpec:
    """One run: which model, on which board and target, over which data, with which kernel and link."""

    model: str | Path
    board: str = "mps2-an386"
    dataset: str | None = None       # None: the data set the model file records
    calibration: str | None = None   # data set an int plan is calibrated on; None: the model's training data
    split: str = "test"
    limit: int | None = None         # N windows spread over the classes; None: all
    out: str | Path | None = None    # profile file; None: profiles/<time>-<board>-<model>.json
    force: bool = False              # replace ``out`` if it exists
    stream: bool = True              # also push every window brick by brick
    sliding: bool = False            # also push all windows end to end as one stream (ShaRNN)
    quant: str = "f32"
    kernel_path: str = "dsp"
    backend: str | None = None       # None: the board's default
    emulator: str | None = None      # None: the board's first (unless ``port``)
    port: str | None = None          # a real board's serial port ("auto": by USB id); MicroPython: its URL
    renode: str | None = None        # Renode binary
    counter: str = "plugin"
    build: BuildOptions = field(default_factory=BuildOptions)
    fault_link: str | None = None    # fault-injection spec for the serial line (QEMU)
    link_timeout: float | None = None
    mpy_kernel: str = "auto"         # MicroPython boards: natmod | viper | py | auto
    micropython_dir: str | None = None

    @property
    def faults(self):
        """The parsed fault spec (``FaultSpec``), or None."""
        from workbench.link.faulty import FaultSpec

        return FaultSpec.parse(self.fault_link) if self.fault_link else None

    @property
    def out_path(self) -> Path | None:
        return Path(self.out) if self.out is not None else None

    def check(self) -> None:
        """What is wrong whatever the board: refused in one line, before any file is read."""
        from workbench.targets import check_link

        if self.link_timeout is not None and not 0.1 <= self.link_timeout <= 3600:
            raise WorkbenchError(f"--link-timeout {self.link_timeout:g}: give seconds between 0.1 and 3600")
        if self.limit is not None and self.limit < 1:
            raise WorkbenchError(f"--limit {self.limit}: give a number of windows of at least 1")
        if self.split not in SPLITS:
            raise WorkbenchError(f"unknown split {self.split!r} (use 'train' or 'test')")
        if self.counter not in COUNTERS:
            raise WorkbenchError(f"unknown counter '{self.counter}' (have: {', '.join(COUNTERS)})")
        if self.build.cores == 2 and self.counter != "plugin":
            raise WorkbenchError("--cores 2 needs --counter plugin (the per-core counts): under -icount SysTick "
                                 "counts both cores' instructions on one time line")
        check_quantization(self.quant)
        check_kernel_path(self.kernel_path)
        faults = self.faults
        check_link(self.build.link, faults)
        if self.out is not None:
            from workbench.profile import check_out

            check_out(self.out_path, self.force)

    def check_for(self, board, mf) -> None:
        """What is wrong for this board and this model (``board``: a Board, ``mf``: a ModelFile)."""
        if board.runs_micropython:
            if self.port == "auto":
                raise WorkbenchError("name the MicroPython board's port: --port /dev/ttyACM0 (or any pyserial URL)")
            return
        if self.sliding and mf.config.get("family") != "sharnn":
            raise WorkbenchError("--sliding needs a ShaRNN model (a single-level RNN does not stream by bricks)")
        on_qemu = not self.port and (self.emulator or "qemu") == "qemu" and "qemu" in board.emulators
        if self.fault_link is not None and not on_qemu:
            raise WorkbenchError("--fault-link works on QEMU targets only")
        if self.build.link != "uart" and not on_qemu:
            raise WorkbenchError(f"--link {self.build.link} works on QEMU targets only (a board or Renode talks "
                                 "over the UART)")
        self.build.check(self.backend or board.default_backend)
        check_cores(self.build.cores, board, mf, self.backend or board.default_backend)

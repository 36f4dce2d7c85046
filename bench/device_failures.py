"""How fast a crashing or hanging device is reported, and that QEMU is reaped.

    PYTHONPATH=$PWD python bench/device_failures.py [--timeout 2.0]

Builds the runner with the test glue of tests/fixtures/misbehaving_glue/ (the first inference runs an
undefined instruction, or spins forever), runs two BasicMotions windows under QEMU and prints, for each:
the one-line error, the time from sending the INFER that misbehaves to the error, the CLI exit code that
error maps to, and whether QEMU was reaped and its serial port freed. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.conftest import tiny_model  # noqa: E402
from workbench.boards import load_board  # noqa: E402
from workbench.build import baremetal  # noqa: E402
from workbench.data import load_dataset  # noqa: E402
from workbench.errors import DeviceError  # noqa: E402
from workbench.export.c import export_c  # noqa: E402
from workbench.link import client  # noqa: E402
from workbench.models import modelfile  # noqa: E402
from workbench.pipeline import Built, run_on_qemu  # noqa: E402
from workbench.targets.qemu import QemuTarget, port_is_free  # noqa: E402

GLUE = ROOT / "tests" / "fixtures" / "misbehaving_glue" / "wb_model_misbehave.c"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--timeout", type=float, default=2.0, help="link timeout for the hanging firmware [2.0]")
    args = ap.parse_args()
    board = load_board("mps2-an386")
    mf = modelfile.from_module(tiny_model(cells=("gru", "gru"), hidden=(8, 8)), {"dataset": "BasicMotions"})
    x = load_dataset("BasicMotions", "test").x[:2]
    root = Path(tempfile.mkdtemp(prefix="wb-misbehave-"))
    info = export_c(mf, root / "export")

    sent = {}
    request = client.DeviceLink.request

    def timed_request(self, rtype, *a, **kw):
        if rtype == client.P.REQ_INFER and "infer" not in sent:
            sent["infer"] = time.monotonic()
        return request(self, rtype, *a, **kw)

    client.DeviceLink.request = timed_request
    targets = []
    init = QemuTarget.__init__

    def spy(self, *a, **kw):
        init(self, *a, **kw)
        targets.append(self)

    QemuTarget.__init__ = spy
    for mode, what in ((1, "faults (udf in wb_model_infer)"), (2, "stops answering (spins in wb_model_infer)")):
        art = baremetal.build(board, info, root / f"mode{mode}", extra_cflags=f"-DWB_TEST_MODE={mode}",
                              make_vars={"GLUE_SRC": str(GLUE)})
        built = Built(mf, info, art, root / f"mode{mode}")
        sent.clear()
        try:
            run_on_qemu(board, built, x, link_timeout=args.timeout)
            print(f"firmware that {what}: the run finished?!")
            return 1
        except DeviceError as exc:
            took = time.monotonic() - sent["infer"]
            t = targets[-1]
            print(f"firmware that {what}:")
            print(f"  error ({took:.2f} s after the INFER was sent; link timeout {args.timeout:g} s; "
                  f"CLI exit code {exc.exit_code}): {exc}")
            print(f"  QEMU reaped: {t.proc.poll() is not None} (exit {t.proc.returncode}); "
                  f"serial port {t.port} free: {port_is_free(t.port)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env bash
# Set up this machine for workbench and run one invoke task:
#   ./bootstrap.sh demo    install everything, run the full pipeline on the emulated mps2-an386
#   ./bootstrap.sh test    install everything, run the test suite
#   ./bootstrap.sh --purpose run    install only what running needs (Arm toolchain, QEMU, gcc, Python
#                                   packages): no browser, clang or espeak-ng (CI jobs that only run)
# Python packages go into .venv inside the checkout; Debian packages are installed by `invoke setup`.
set -euo pipefail
cd "$(dirname "$0")"
if [ ! -x .venv/bin/python ]; then
    echo "bootstrap: creating the virtual environment .venv"
    python3 -m venv .venv
fi
. .venv/bin/activate
echo "bootstrap: installing invoke (runs the set-up and the task '${1:-}')"
python -m pip install --quiet --disable-pip-version-check invoke==3.0.3
exec invoke setup "$@"

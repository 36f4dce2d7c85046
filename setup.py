"""Packaging beyond pyproject.toml: a wheel carries what the tool reads at run time besides Python,
the C kernel, runner, ports, MicroPython files and bench program (firmware/), the board files
(boards/) and the Zephyr module file (zephyr/), under ``workbench/_resources`` (workbench.paths finds
them there when the package is not a checkout)."""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
RESOURCES = ("firmware", "boards", "zephyr")
# Never shipped: build outputs a checkout may hold next to the sources.
IGNORE = shutil.ignore_patterns("build", "__pycache__", "*.o", "*.elf", "*.so", "*.pyc", ".*")


class BuildWithResources(build_py):
    def run(self):
        super().run()
        target = Path(self.build_lib) / "workbench" / "_resources"
        for name in RESOURCES:
            if (ROOT / name).is_dir():
                shutil.rmtree(target / name, ignore_errors=True)
                shutil.copytree(ROOT / name, target / name, ignore=IGNORE)


setup(cmdclass={"build_py": BuildWithResources})

"""Committed baselines (``profiles/baselines/baselines.toml``) and the commands of the CI gate.

Each baseline names a committed profile, the committed model file it was measured with, and where
(board, dataset, split). The gate re-measures the model with the current build and compares:
``workbench compare BASELINE NEW --fail-over PCT``.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from workbench.errors import WorkbenchError
from workbench.paths import profiles_dir


@dataclass
class Baseline:
    name: str
    profile: Path
    model: Path
    board: str
    dataset: str
    split: str
    fail_over: float
    train: dict = field(default_factory=dict)

    def run_args(self, out: Path, *extra: str) -> list[str]:
        """``workbench`` arguments that measure this baseline's model with the current build."""
        return ["run", "--board", self.board, "--model", str(self.model), "--dataset", self.dataset, "--split",
                self.split, "--out", str(out), "--force", *extra]

    def compare_args(self, new: Path, fail_over: float | None = None) -> list[str]:
        pct = self.fail_over if fail_over is None else fail_over
        return ["compare", str(self.profile), str(new), "--fail-over", f"{pct:g}"]


def baselines_dir() -> Path:
    return profiles_dir() / "baselines"


def load_manifest(path: Path | None = None) -> list[Baseline]:
    path = path or baselines_dir() / "baselines.toml"
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise WorkbenchError(f"baseline manifest {path} not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise WorkbenchError(f"baseline manifest {path}: not valid TOML ({exc})") from None
    out = []
    for i, b in enumerate(data.get("baseline", [])):
        try:
            out.append(Baseline(name=b["name"], profile=path.parent / b["profile"], model=path.parent / b["model"],
                                board=b["board"], dataset=b["dataset"], split=b.get("split", "test"),
                                fail_over=float(b["fail_over"]), train=b.get("train", {})))
        except KeyError as exc:
            raise WorkbenchError(f"baseline manifest {path}: baseline {i + 1} is missing {exc}") from None
    return out

"""Board files: every board loads; a missing field or an unknown board is a one-line error."""

from __future__ import annotations

import pytest

from workbench.boards import REQUIRED, all_boards, load_board
from workbench.errors import WorkbenchError


def test_every_board_loads():
    boards = all_boards()
    assert "mps2-an386" in {b.name for b in boards}
    for b in boards:
        assert b.clock_hz > 0 and b.ram_bytes > 0


def test_alias():
    assert load_board("an386").name == "mps2-an386"


def test_unknown_board():
    with pytest.raises(WorkbenchError, match="unknown board 'nosuch'"):
        load_board("nosuch")


@pytest.mark.parametrize("field", REQUIRED)
def test_missing_field_names_board_and_field(tmp_path, monkeypatch, field):
    src = load_board("mps2-an386").path.read_text()
    lines = [l for l in src.splitlines() if not l.startswith(f"{field} =") and not l.startswith(f"{field}=")]
    text = "\n".join(lines)
    if not any(l.startswith(f"{field} =") for l in src.splitlines()):
        text = text.replace(f"[{field}]", "[removed_section]")
    (tmp_path / "mps2-an386.toml").write_text(text)
    monkeypatch.setenv("WORKBENCH_HOME", str(tmp_path.parent))
    monkeypatch.setattr("workbench.boards.boards_dir", lambda: tmp_path)
    with pytest.raises(WorkbenchError, match=f"board mps2-an386: .*missing field '{field}'"):
        load_board("mps2-an386")

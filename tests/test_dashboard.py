"""The dashboard in real headless Chromium (Debian's): no console errors, no network requests, every
plot drawn with data; the fitted O(T/k + k) constant, the Pareto front and the energy estimate are
the numbers they claim to be."""

from __future__ import annotations

import json
import re
import shutil

import pytest

from tests.profile_samples import sample_profile
from workbench.dashboard import PLOTS, dashboard_data, render_html, write_dashboard
from workbench.profile import write_profile

HAVE_CHROMIUM = any(shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome"))
needs_chromium = pytest.mark.skipif(not HAVE_CHROMIUM, reason="needs chromium (Debian package)")

C_GRU, C_LSTM = 500.0, 640.0   # exact per-step constants of the synthetic streamed costs


def grid_profiles(tmp_path):
    """A small sweep's worth: GRU and LSTM ShaRNNs at three k, a single-level RNN, two boards."""
    out = []
    for cells, c, acc0 in ((("gru", "gru"), C_GRU, 0.90), (("lstm", "lstm"), C_LSTM, 0.95)):
        for k, acc in ((5, acc0), (10, acc0 - 0.05), (20, acc0 - 0.1)):
            p = sample_profile(cells=cells, k=k, stream=c * (100 / k + k), full=c * 100 * 1.2, accuracy=acc,
                               sha=f"{cells[0]}{k:02d}".ljust(64, "0"))
            out.append(write_profile(p, tmp_path / f"{cells[0]}-k{k}.json"))
    out.append(write_profile(sample_profile(family="rnn", cells=("gru",), hidden=(16,), k=None, stream=None,
                                            full=30_000, accuracy=0.70), tmp_path / "rnn.json"))
    # The same model on a board that counts cycles (a hardware DWT): its own panel, its own axis.
    out.append(write_profile(sample_profile(cells=("gru", "gru"), k=10, stream=C_GRU * 20 * 1.3, full=80_000,
                                            board="nrf52840", unit="cycles", source="dwt-cycles",
                                            sha="gru10".ljust(64, "0")), tmp_path / "nrf.json"))
    return out


def test_page_is_self_contained(tmp_path):
    from workbench.profile.store import load_many

    page = render_html(load_many(grid_profiles(tmp_path)))
    assert not re.search(r"<[a-zA-Z][^>]*\s(src|href)\s*=", page)   # nothing to fetch, no links out
    assert "http://" not in page.replace("http://www.w3.org/2000/svg", "")
    assert "https://" not in page
    assert "default-src 'none'" in page                          # and the page forbids it anyway
    data = json.loads(page.split('id="wb-data">')[1].split("</script>")[0])
    assert [p["file"] for p in data["profiles"]][:2] == ["gru-k5.json", "gru-k10.json"]


def test_energy_is_an_estimate_from_the_board_file(tmp_path):
    from workbench.boards import load_board
    from workbench.profile.store import load_many

    data = dashboard_data(load_many(grid_profiles(tmp_path)))
    board = load_board("mps2-an386")
    gru5 = next(p for p in data["profiles"] if p["id"] == "gru-k5")
    e = gru5["energy"]
    cycles = gru5["metrics"]["cost.full_window.median"]["value"]
    t = cycles / board.clock_hz
    amps = board.energy["ua_per_mhz"] * board.clock_hz / 1e6 * 1e-6
    assert e["full_window"]["value"] == pytest.approx(amps * board.energy["volts"] * t * 1e6)   # µJ
    assert e["source"] == "estimate" and "instruction-based" in e["full_window"]["basis"]
    # The nRF52840's board file gives its own figure (DWT cycles: a cycle-based estimate).
    nrf_board = load_board("nrf52840")
    nrf = next(p for p in data["profiles"] if p["id"] == "nrf")
    e = nrf["energy"]
    cycles = nrf["metrics"]["cost.full_window.median"]["value"]
    amps = nrf_board.energy["ua_per_mhz"] * nrf_board.clock_hz / 1e6 * 1e-6
    assert e["full_window"]["value"] == pytest.approx(amps * nrf_board.energy["volts"] * cycles / nrf_board.clock_hz
                                                      * 1e6)
    assert e["board_source"] == nrf_board.energy["source"] and e["full_window"]["basis"] == "cycle-based"


@needs_chromium
def test_dashboard_in_headless_chromium(tmp_path):
    from workbench.dashboard.headless import Chromium, census
    from workbench.profile.store import load_many

    out = write_dashboard(load_many(grid_profiles(tmp_path)), tmp_path / "dash.html")
    with Chromium() as browser:
        report = browser.open(out.as_uri())
        plots = census(browser)
        legend = browser.evaluate("document.querySelector('[data-plot=\"cost-vs-k\"] ul.legend').textContent")
        front = browser.evaluate("document.querySelectorAll('[data-plot=\"pareto\"] circle.on-front').length")
        boards = browser.evaluate("Array.from(document.querySelectorAll('[data-board]')).map("
                                  "function (b) { return b.getAttribute('data-board'); })")
        badge = browser.evaluate("document.querySelector('[data-plot=\"energy\"] .badge').textContent")
        # The confusion plot redraws for the profile chosen in its <select>.
        browser.evaluate("var s = document.querySelector('[data-plot=\"confusion\"] select'); s.value = '3';"
                         "s.dispatchEvent(new Event('change'))")
        chosen = browser.evaluate("document.querySelector('[data-plot=\"confusion\"] p.note:last-child').textContent")
        browser.screenshot(tmp_path / "dash.png")

    assert report.errors == [], report.errors
    assert report.requests == [out.as_uri()], report.requests     # the page itself and nothing else
    assert report.failed == []
    assert set(plots) == set(PLOTS)
    for name, c in plots.items():
        assert c["points"] > 0 and c["svgs"] > 0 and c["empty"] == 0, (name, c)
    # Fitted constants equal the ones the synthetic costs were made with; the curve fits exactly.
    assert f"c = {C_GRU:g} per step" in legend and f"c = {C_LSTM:g} per step" in legend
    assert legend.count("R² = 1.000") == 2
    # Pareto fronts, one per cost unit: instructions: the RNN (cheapest), GRU k=5 (the most accurate GRU),
    # LSTM k=5 (the most accurate); cycles: the single nRF profile.
    assert front == 4
    assert boards == ["mps2-an386", "nrf52840"]
    assert badge.strip().lower() == "estimate"
    assert "lstm/lstm 16/16 k=5" in chosen
    assert (tmp_path / "dash.png").stat().st_size > 20_000


def test_cli_writes_the_page(tmp_path):
    import subprocess
    import sys

    paths = grid_profiles(tmp_path)
    proc = subprocess.run([sys.executable, "-m", "workbench.cli", "dashboard", str(tmp_path), "--out",
                           str(tmp_path / "out" / "d.html")], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    page = (tmp_path / "out" / "d.html").read_text()
    data = json.loads(page.split('id="wb-data">')[1].split("</script>")[0])
    assert len(data["profiles"]) == len(paths)

"""The dashboard in real headless Chromium (Debian's): no console errors, no network requests, every
plot drawn with data; the fitted O(T/k + k) constant, the Pareto front and the energy estimate are
the numbers they claim to be; the defects a first-time user met are gone: every profile has its own
label, no curve is fitted through fewer than three k, the accuracy axis spans the data, the confusion
matrix opens on the profile with the most windows, the agreement section draws only what is below
1.000, and no column of the profiles table is cut off."""

from __future__ import annotations

import json
import re
import shutil

import pytest

from tests.profile_samples import sample_profile, with_breakdown
from workbench.dashboard import PLOTS, dashboard_data, render_html, write_dashboard
from workbench.profile import write_profile

HAVE_CHROMIUM = any(shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome"))
needs_chromium = pytest.mark.skipif(not HAVE_CHROMIUM, reason="needs chromium (Debian package)")

C_GRU, C_LSTM = 500.0, 640.0   # exact per-step constants of the synthetic streamed costs


def grid_profiles(tmp_path):
    """A small sweep's worth: GRU and LSTM ShaRNNs at three k (the GRUs with a stage breakdown and a
    cycle estimate), a single-level RNN whose device class disagrees with torch on one window, two
    boards."""
    out = []
    for cells, c, acc0 in ((("gru", "gru"), C_GRU, 0.90), (("lstm", "lstm"), C_LSTM, 0.95)):
        for k, acc in ((5, acc0), (10, acc0 - 0.05), (20, acc0 - 0.1)):
            p = sample_profile(cells=cells, k=k, stream=c * (100 / k + k), full=c * 100 * 1.2, accuracy=acc,
                               sha=f"{cells[0]}{k:02d}".ljust(64, "0"))
            out.append(write_profile(with_breakdown(p) if cells[0] == "gru" else p, tmp_path / f"{cells[0]}-k{k}.json"))
    rnn = sample_profile(family="rnn", cells=("gru",), hidden=(16,), k=None, stream=None, full=30_000, accuracy=0.70)
    rnn["metrics"]["agreement.device_torch_class"]["value"] = 0.975
    out.append(write_profile(rnn, tmp_path / "rnn.json"))
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


def same_model_three_ways(tmp_path):
    """One model on one board three times: the same run twice (two files) and once on another dataset
    split, each with a 20-window partial run beside a full one; the labels must still differ."""
    base = sample_profile(k=10)
    other = sample_profile(k=10)
    other["dataset"]["split"] = "train"
    short = sample_profile(k=10)
    short["dataset"]["count"] = 20
    return [write_profile(p, tmp_path / f"{name}.json") for name, p in
            (("a", base), ("b", base), ("train", other), ("short", short))]


def test_every_profile_has_its_own_label(tmp_path):
    from workbench.profile.store import load_many

    data = dashboard_data(load_many(same_model_three_ways(tmp_path)))
    labels = [p["label"] for p in data["profiles"]]
    assert len(set(labels)) == len(labels), labels
    by_file = {p["file"]: p["label"] for p in data["profiles"]}
    assert "BasicMotions train (40)" in by_file["train.json"]
    assert "BasicMotions test (20)" in by_file["short.json"]
    assert by_file["a.json"].endswith("[a.json]") and by_file["b.json"].endswith("[b.json]")
    # A k sweep of one configuration keeps one series (its curve), and unique labels without qualifiers.
    grid = dashboard_data(load_many(grid_profiles(tmp_path / "grid")))
    gru = [p for p in grid["profiles"] if p["cells"] == "gru/gru" and p["board"] == "mps2-an386"]
    assert len({p["series"] for p in gru}) == 1 and all("(" not in p["label"] for p in gru)


def test_breakdown_and_latency_data(tmp_path):
    from workbench.profile.store import load_many

    data = dashboard_data(load_many(grid_profiles(tmp_path)))
    gru5 = next(p for p in data["profiles"] if p["id"] == "gru-k5")
    stages = {s["stage"]: s for s in gru5["breakdown"]["stages"]}
    assert sum(s["value"] for s in stages.values()) == gru5["metrics"]["cost.full_window.median"]["value"]
    assert stages["lower"]["mac"] + stages["lower"]["act"] == stages["lower"]["value"]
    assert gru5["latency"]["full_window"]["basis"] == "estimate"
    assert gru5["latency"]["full_window"]["value"] == pytest.approx(C_GRU * 120 * 1.5 / 25e6 * 1e3)
    # The energy estimate uses the cycle estimate where there is one.
    assert gru5["energy"]["full_window"]["basis"].startswith("cycle-estimate")
    # A board's DWT cycles give measured milliseconds at the board file's clock.
    nrf = next(p for p in data["profiles"] if p["id"] == "nrf")
    assert nrf["latency"]["full_window"] == {"value": pytest.approx(80_000 / 64e6 * 1e3), "source": "dwt-cycles",
                                             "basis": "measured"}
    lstm = next(p for p in data["profiles"] if p["id"] == "lstm-k5")
    assert lstm["breakdown"] is None and lstm["latency"] is None


def test_energy_is_an_estimate_from_the_board_file(tmp_path):
    from workbench.boards import load_board
    from workbench.profile.store import load_many

    data = dashboard_data(load_many(grid_profiles(tmp_path)))
    board = load_board("mps2-an386")
    lstm5 = next(p for p in data["profiles"] if p["id"] == "lstm-k5")      # instructions only: 1 cycle each
    e = lstm5["energy"]
    cycles = lstm5["metrics"]["cost.full_window.median"]["value"]
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
        fits = browser.evaluate("Array.from(document.querySelectorAll('[data-plot=\"cost-vs-k\"] path.fit')).map("
                                "function (f) { return f.getAttribute('data-series'); })")
        pareto_y = browser.evaluate(
            "Array.from(document.querySelectorAll('[data-plot=\"pareto\"] svg.chart')).map("
            "function (s) { return [+s.getAttribute('data-y0'), +s.getAttribute('data-y1')]; })")
        agreement = "document.querySelectorAll('[data-plot=\"agreement\"] "
        agreement_rows = browser.evaluate(agreement + "tr[data-check]').length")
        agreement_bars = browser.evaluate(agreement + "rect[data-point]').length")
        breakdown_bars = browser.evaluate("document.querySelectorAll('#breakdown rect[data-point]').length")
        latency_badge = browser.evaluate("document.querySelector('[data-plot=\"latency\"] .badge').textContent")
        clipped = browser.evaluate("(function () { var c = document.getElementById('summary');"
                                   " return c.scrollWidth > c.clientWidth; })()")
        opened = browser.evaluate("document.querySelector('[data-plot=\"confusion\"] p.note:last-child').textContent")
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
    # Curves only for the series with three k or more: the GRU and LSTM sweeps, not the one nRF point.
    assert sorted(fits) == ["sharnn gru/gru 16/16 f32 · mps2-an386", "sharnn lstm/lstm 16/16 f32 · mps2-an386"]
    # The accuracy axis spans the data (0.70 .. 0.95 on the instruction panel), not 0 .. 1.
    assert pareto_y[0][0] > 0.6 and pareto_y[0][0] < 0.70 and 0.95 < pareto_y[0][1] <= 1.0
    # Agreement: one summary row per check the profiles have (device/host, stream/full, device/torch class);
    # a bar only for the one profile below 1.000.
    assert agreement_rows == 3 and agreement_bars == 1
    # Where the time goes: the three GRU profiles, lower/upper/head each mac and act, io, other.
    assert breakdown_bars == 3 * 8
    assert latency_badge.strip().lower() == "estimate"
    assert not clipped
    # The confusion matrix opens on a profile with the most windows (all have 40 here: the first).
    assert "gru/gru 16/16 k=5" in opened
    assert (tmp_path / "dash.png").stat().st_size > 20_000


@needs_chromium
def test_dashboard_defaults_for_a_partial_sweep(tmp_path):
    """The confusion matrix opens on the full run, not the 20-window one listed first; an all-1.000
    agreement section draws no bars; a single k gets a point and no curve."""
    from workbench.dashboard.headless import Chromium
    from workbench.profile.store import load_many

    short = sample_profile(k=10, classes=4)
    short["dataset"]["count"] = 20
    short["metrics"]["confusion.device"]["value"] = [[5, 0, 0, 0], [0, 5, 0, 0], [0, 0, 10, 0], [0, 0, 0, 0]]
    paths = [write_profile(short, tmp_path / "0-short.json"),
             write_profile(sample_profile(k=10), tmp_path / "1-full.json")]
    out = write_dashboard(load_many(paths), tmp_path / "dash.html")
    with Chromium() as browser:
        report = browser.open(out.as_uri())
        opened = browser.evaluate("document.querySelector('[data-plot=\"confusion\"] p.note:last-child').textContent")
        bars = browser.evaluate("document.querySelectorAll('[data-plot=\"agreement\"] rect').length")
        note = browser.evaluate("document.querySelector('[data-plot=\"agreement\"] p.note:last-child').textContent")
        fits = browser.evaluate("document.querySelectorAll('[data-plot=\"cost-vs-k\"] path.fit').length")
        dots = browser.evaluate("document.querySelectorAll('[data-plot=\"cost-vs-k\"] circle').length")
    assert report.errors == [], report.errors
    assert "test (40)" in opened or "(40)" in opened, opened
    assert bars == 0 and "agrees exactly" in note
    assert fits == 0 and dots == 2


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

"""Profiles: the schema check names the first violation in one line; compare gates regressions and
refuses numbers from different sources; show prints every metric; stores write atomically."""

from __future__ import annotations

import copy
import json

import pytest

from tests.profile_samples import sample_profile, scaled
from tests.test_cli_errors import assert_one_line_error, run_cli
from workbench import cli
from workbench.errors import WorkbenchError
from workbench.profile import load_profile, validate, write_profile
from workbench.profile.compare import compare, summary
from workbench.profile.store import ProfileStore, load_many


@pytest.fixture
def base():
    return sample_profile()


def _set(p, path, value):
    node = p
    *parents, last = path.split(".")
    for part in parents:
        node = node[part]
    if value is KeyError:
        del node[last]
    else:
        node[last] = value


# ---------- schema ----------

def assert_accepted(p, tmp_path, capsys):
    """The schema accepts ``p``: ``profile check`` says so (exit 0), and the file reads back equal."""
    path = write_profile(p, tmp_path / "accepted.json")
    assert cli.main(["profile", "check", str(path)]) == 0
    out = capsys.readouterr()
    assert "1 profile(s) valid" in out.out and out.err == ""
    assert load_profile(path) == p


def test_sample_is_valid(base, tmp_path, capsys):
    assert_accepted(base, tmp_path, capsys)


@pytest.mark.parametrize("path, value, words", [
    ("model.k", KeyError, ["missing 'model.k'"]),
    ("model.k", "10", ["model.k must be an integer or null", '"10"']),
    ("model.k", 7, ["model.k=7 does not divide model.T=100"]),
    ("model.hidden", [16], ["2 cells but 1 hidden sizes"]),
    ("model.cells", "gru", ["model.cells must be a list of strings"]),
    ("board", 3, ["board must be a string, got 3"]),
    ("target.kind", "emulator", ["target.kind \"emulator\" is not one of qemu"]),
    ("created_utc", "yesterday", ["created_utc must be UTC"]),
    ("git.dirty", "yes", ["git.dirty must be true or false or null"]),
    ("versions.qemu", 7.2, ["versions.qemu must be a string"]),
    ("dataset.count", -0.5, ["dataset.count must be an integer"]),
    ("metrics", [], ["metrics must be an object"]),
    ("metrics.cost.full_window.median", KeyError, None),   # fine: metric names are free
    ("schema_version", 2, ["schema version 2", "reads 1"]),
    ("schema", "something-else", ["not a workbench profile"]),
    ("windows", {}, ["windows must be a list"]),
])
def test_schema_violations_are_one_line_and_name_the_field(base, path, value, words, tmp_path, capsys):
    p = copy.deepcopy(base)
    if path.startswith("metrics."):
        del p["metrics"][path[len("metrics."):]]
    else:
        _set(p, path, value)
    if words is None:
        assert_accepted(p, tmp_path, capsys)
        return
    with pytest.raises(WorkbenchError) as exc:
        validate(p, "p.json")
    msg = str(exc.value)
    assert "\n" not in msg and msg.startswith("p.json: ")
    for w in words:
        assert w in msg, msg


@pytest.mark.parametrize("metric, words", [
    ({"value": 1, "unit": "bytes"}, ["metric 'm' needs value, unit and source"]),
    ({"value": 1, "unit": "bytes", "source": "guess"}, ["metric 'm' has unknown source \"guess\""]),
    ({"value": 1, "unit": "", "source": "static-elf"}, ["metric 'm' needs a unit"]),
    ({"value": "fast", "unit": "s", "source": "host-wallclock"}, ["metric 'm' value must be a number"]),
    ({"value": [[1, {"a": 1}]], "unit": "x", "source": "device-output"}, ["metric 'm' value must be a number"]),
])
def test_bad_metrics(base, metric, words):
    base["metrics"]["m"] = metric
    with pytest.raises(WorkbenchError) as exc:
        validate(base, "p.json")
    for w in words:
        assert w in str(exc.value)


def test_extra_fields_are_allowed(base, tmp_path, capsys):
    base["model"]["cell_options"] = [{}, {}]
    base["robustness"] = {"noise": 0.1}
    base["metrics"]["accuracy.int16"] = {"value": None, "unit": "fraction", "source": "device-output"}
    assert_accepted(base, tmp_path, capsys)


# ---------- store ----------

def test_write_is_atomic_and_never_overwrites(tmp_path, base):
    path = write_profile(base, tmp_path / "p.json")
    assert load_profile(path)["metrics"] == base["metrics"]
    assert oct(path.stat().st_mode & 0o777) == "0o644"
    with pytest.raises(WorkbenchError, match="exists"):
        write_profile(base, path)
    assert [f.name for f in tmp_path.iterdir()] == ["p.json"]   # no temp file left behind


def test_store_done_cleans_partials_and_refuses_invalid(tmp_path, base):
    store = ProfileStore(tmp_path)
    assert not store.done("a")
    store.put("a", base)
    assert store.done("a")
    partial = tmp_path / ".b.json.x1y2"
    partial.write_text('{"schema": "workbench-prof')
    assert store.clean_partial() == [partial] and not partial.exists()
    (tmp_path / "c.json").write_text('{"schema": "workbench-profile", "schema_version": 1}')
    with pytest.raises(WorkbenchError, match="c.json: profile is missing 'created_utc'"):
        store.done("c")


def test_load_many_expands_folders(tmp_path, base):
    write_profile(base, tmp_path / "d" / "one.json")
    write_profile(base, tmp_path / "d" / "two.json")
    (tmp_path / "d" / ".hidden.json.tmp").write_text("partial")
    got = load_many([tmp_path / "d"])
    assert [p.name for p, _ in got] == ["one.json", "two.json"]
    (tmp_path / "empty").mkdir()
    with pytest.raises(WorkbenchError, match="no profiles"):
        load_many([tmp_path / "empty"])


# ---------- compare ----------

def test_identical_profiles_pass_the_gate(base):
    c = compare(base, copy.deepcopy(base), 5)
    assert not c.failed and all(d.verdict == "same" for d in c.deltas)


def test_six_percent_more_instructions_fails_a_five_percent_gate(base):
    slower = scaled(base, 1.06)
    c = compare(base, slower, 5)
    assert c.failed
    failed = {d.name for d in c.regressions}
    assert "cost.full_window.median" in failed and "cost.stream_window.median" in failed
    assert "+6.00%" in summary(c)
    assert not compare(base, slower, 7).failed
    assert not compare(base, slower, None).failed          # no gate: report only
    assert not compare(base, scaled(base, 1.04), 5).failed
    assert not compare(base, scaled(base, 0.5), 0).failed   # cheaper is never a regression


def test_memory_growth_and_accuracy_drop_fail(base):
    more_ram = copy.deepcopy(base)
    more_ram["metrics"]["ram.bss"]["value"] += 600      # +12.7%
    assert [d.name for d in compare(base, more_ram, 5).regressions] == ["ram.bss"]
    worse = copy.deepcopy(base)
    worse["metrics"]["accuracy.device"]["value"] = 0.95
    c = compare(base, worse, 50)
    assert [d.name for d in c.regressions] == ["accuracy.device"] and "0.975 -> 0.950" in summary(c)


def test_wallclock_never_gates_and_missing_gated_metric_fails(base):
    slow_host = copy.deepcopy(base)
    slow_host["metrics"]["time.wall_per_window"]["value"] *= 10
    assert not compare(base, slow_host, 0).failed
    fewer = copy.deepcopy(base)
    del fewer["metrics"]["flash.code"]
    c = compare(base, fewer, 5)
    assert c.failed and [d.name for d in c.regressions] == ["flash.code"] and "flash.code missing" in summary(c)


def test_metrics_of_different_sources_are_refused(base):
    icount = scaled(base, 1.0)
    icount["metrics"]["cost.full_window.median"]["source"] = "qemu-icount-instructions"
    with pytest.raises(WorkbenchError) as exc:
        compare(base, icount, 5, base_name="a.json", new_name="b.json")
    msg = str(exc.value)
    assert "cost.full_window.median" in msg and "qemu-plugin-instructions in a.json" in msg
    assert "qemu-icount-instructions in b.json" in msg


def test_compare_counts_windows_with_identical_logits(base):
    """Two runs of one model on the same windows (two boards, two backends): compare says in how many
    windows the logits are identical; different arithmetic (f32 vs q15) gives no such note."""
    from workbench.profile.compare import logits_note

    base["windows"] = [{"index": i, "logits": [i, -i, 3, 4]} for i in range(5)]
    other = copy.deepcopy(base)
    other["board"] = "netduinoplus2"
    assert "per-window logits: identical in all 5 windows" in compare(base, other).notes
    other["windows"][3]["logits"][1] += 1
    other["windows"][4]["logits"][0] += 1
    assert logits_note(base, other) == "per-window logits: differ in 2 of 5 windows (first: window 3)"
    other["model"]["quantization"] = "q15"
    assert logits_note(base, other) is None
    assert logits_note(base, copy.deepcopy({**base, "windows": []})) is None


# ---------- CLI ----------

def test_cli_compare_exit_codes(tmp_path, base):
    a = write_profile(base, tmp_path / "a.json")
    same = write_profile(copy.deepcopy(base), tmp_path / "same.json")
    slow = write_profile(scaled(base, 1.06), tmp_path / "slow.json")
    proc = run_cli("compare", str(a), str(same), "--fail-over", "5")
    assert proc.returncode == 0, proc.stderr
    assert "gate passed" in proc.stdout
    proc = run_cli("compare", str(a), str(slow), "--fail-over", "5")
    assert proc.returncode == 1
    assert "gate failed" in proc.stdout and "cost.full_window.median +6.00%" in proc.stdout
    assert run_cli("compare", str(a), str(slow)).returncode == 0


def test_cli_compare_refuses_mixed_sources(tmp_path, base):
    other = copy.deepcopy(base)
    other["metrics"]["cost.full_window.median"]["source"] = "dwt-cycles"
    other["metrics"]["cost.full_window.median"]["unit"] = "cycles"
    a, b = write_profile(base, tmp_path / "a.json"), write_profile(other, tmp_path / "b.json")
    assert_one_line_error(run_cli("compare", str(a), str(b), "--fail-over", "5"), "cost.full_window.median",
                          "qemu-plugin-instructions", "dwt-cycles")


@pytest.mark.parametrize("command", ["compare", "dashboard", "show"])
def test_truncated_or_invalid_profile_is_one_line_exit_2(tmp_path, base, command):
    good = write_profile(base, tmp_path / "good.json")
    text = good.read_text()
    truncated = tmp_path / "truncated.json"
    truncated.write_text(text[: len(text) // 2])
    invalid_p = copy.deepcopy(base)
    invalid_p["model"]["k"] = "ten"
    invalid = tmp_path / "invalid.json"
    invalid.write_text(json.dumps(invalid_p))

    def cmd(path):
        if command == "compare":
            return run_cli("compare", str(good), str(path), "--fail-over", "5")
        if command == "dashboard":
            return run_cli("dashboard", str(good), str(path), "--out", str(tmp_path / "d.html"))
        return run_cli("profile", "show", str(path))

    assert_one_line_error(cmd(truncated), "truncated.json", "not valid JSON", "truncated")
    assert_one_line_error(cmd(invalid), "invalid.json", "model.k must be an integer or null")
    assert_one_line_error(cmd(tmp_path / "nope.json"), "nope.json", "not found")
    assert not (tmp_path / "d.html").exists()


def test_profile_show_prints_every_metric_with_its_source(tmp_path, base):
    path = write_profile(base, tmp_path / "p.json")
    proc = run_cli("profile", "show", str(path))
    assert proc.returncode == 0, proc.stderr
    for name, m in base["metrics"].items():
        if not isinstance(m["value"], list):
            assert name in proc.stdout
    assert "qemu-plugin-instructions" in proc.stdout and "1,229,906" in proc.stdout
    assert "Badminton" in proc.stdout            # the confusion table with class names
    assert "windows [true][predicted]" in proc.stdout   # rich markup is escaped, not eaten


def test_profile_check_and_no_subcommand(tmp_path, base):
    write_profile(base, tmp_path / "p.json")
    proc = run_cli("profile", "check", str(tmp_path))
    assert proc.returncode == 0 and "1 profile(s) valid" in proc.stdout
    assert_one_line_error(run_cli("profile"), "choose a subcommand")

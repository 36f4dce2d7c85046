"""Your own data and your own model, end to end: data provenance in the model file, finding the data
again (moved, changed), int16 calibration on user data, the WAV-folder source, the Python API and
models trained elsewhere (``wb.from_torch``, ``workbench import``)."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import workbench as wb
from tests.conftest import needs_qemu
from workbench import cli
from workbench.data import features
from workbench.data.source import calibration_data, model_data
from workbench.errors import WorkbenchError
from workbench.models import modelfile
from workbench.pipeline.training import train_model

ROOT = Path(__file__).resolve().parents[1]
AGREEMENTS = ("agreement.device_host", "agreement.device_reference", "agreement.host_reference",
              "agreement.device_torch_class", "agreement.stream_full")


def three_class(n: int, seed: int, steps: int = 40) -> tuple[np.ndarray, np.ndarray]:
    """Windows [n, steps, 2] of three classes (sine and cosine at 1, 2, 3 cycles per window) and noise."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 3
    t = np.arange(steps) / steps
    x = np.stack([np.sin(2 * np.pi * (1 + y[:, None]) * t), np.cos(2 * np.pi * (1 + y[:, None]) * t)], -1)
    return (x + 0.2 * rng.standard_normal(x.shape)).astype(np.float32), y


def write_npz(path: Path, steps: int = 40) -> Path:
    x, y = three_class(60, 0, steps)
    xt, yt = three_class(15, 1, steps)
    np.savez(path, x=x, y=y, x_test=xt, y_test=yt, class_names=np.array(["one", "two", "three"]))
    return path


def write_csv(path: Path) -> Path:
    """The same kind of data as a .csv with a sibling test file (labels as names)."""
    names = ["one", "two", "three"]
    for split, (x, y) in (("", three_class(60, 0)), ("_test", three_class(15, 1))):
        rows = [",".join([names[label], *(f"{v:.5f}" for v in win.reshape(-1))]) for win, label in zip(x, y)]
        path.with_name(f"{path.stem}{split}.csv").write_text("# channels=2\n" + "\n".join(rows) + "\n")
    return path


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A model trained on a user's .npz (given by a relative path, as a user types it)."""
    folder = tmp_path_factory.mktemp("own")
    write_npz(folder / "my.npz")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(folder)
        path, _ = train_model("my.npz", "sharnn", ["gru"], [8], 10, 3, 0, folder / "m.wbm")
    return folder, modelfile.load(path)


# --- the record -------------------------------------------------------------------------------------

def test_model_file_records_the_data_file(trained):
    folder, mf = trained
    rec = mf.meta["data"]
    assert rec["source"] == "file" and rec["format"] == "npz"
    assert rec["path"] == "my.npz" and rec["abspath"] == str((folder / "my.npz").resolve())
    assert rec["sha256"] == sha256(folder / "my.npz")          # what `sha256sum my.npz` prints
    assert (rec["window"], rec["channels"]) == (40, 2) and "mean" in rec["normalisation"]
    assert mf.meta["dataset"] == "my.npz"                      # a path, never the stem "my"


def test_csv_record_names_both_files(tmp_path):
    write_csv(tmp_path / "walk.csv")
    data = wb.load_data(tmp_path / "walk.csv")
    assert data.record["format"] == "csv" and data.record["sha256"] == sha256(tmp_path / "walk.csv")
    assert data.record["test_file"] == {"path": str(tmp_path / "walk_test.csv"),
                                        "sha256": sha256(tmp_path / "walk_test.csv")}
    assert data.train.class_names == ["one", "three", "two"] and data.test.num_windows == 15


def test_data_is_found_again_moved_or_refused_changed(trained, tmp_path, monkeypatch):
    folder, mf = trained
    monkeypatch.chdir(tmp_path)          # another folder: the relative path misses, the absolute one is found
    assert model_data(mf.meta).train.x.shape == (60, 40, 2)
    moved = tmp_path / "elsewhere.npz"
    shutil.copy(folder / "my.npz", moved)
    (folder / "my.npz").rename(folder / "away.npz")
    try:
        with pytest.raises(WorkbenchError) as e:
            model_data(mf.meta, model="m.wbm")
        assert str(e.value) == (f"m.wbm was trained on my.npz (sha256 {mf.meta['data']['sha256'][:12]}), which is not "
                                "there any more: pass --dataset PATH (Python: data=) where that file is now")
        given = model_data(mf.meta, str(moved))
        assert given.matches(mf.meta["data"])
        np.testing.assert_array_equal(calibration_data(mf.meta, given).x, given.train.x)
        write_npz(folder / "my.npz", steps=20)                 # another file where the model's was
        with pytest.raises(WorkbenchError) as e:
            model_data(mf.meta, model="m.wbm")
        msg = str(e.value)
        assert "\n" not in msg and "changed since training" in msg
        assert f"sha256 {sha256(folder / 'my.npz')[:12]}" in msg
        with pytest.raises(WorkbenchError) as e:              # int16 calibration says the same, and the way out
            calibration_data(mf.meta, None, model="m.wbm")
        assert "changed since training" in str(e.value) and "--calibration" in str(e.value)
        other = calibration_data(mf.meta, None, str(moved))   # --calibration FILE
        assert other.num_windows == 60
    finally:
        (folder / "away.npz").replace(folder / "my.npz")


def test_a_file_named_like_a_bundled_set_is_the_file(tmp_path):
    """No look-up of a user file's stem among the bundled names: BasicMotions.npz is the user's file."""
    path = write_npz(tmp_path / "BasicMotions.npz")
    path_out, _ = train_model(str(path), "rnn", ["gru"], [4], None, 1, 0, tmp_path / "m.wbm")
    mf = modelfile.load(path_out)
    assert model_data(mf.meta).train.x.shape == (60, 40, 2)        # the bundled BasicMotions is [40, 100, 6]
    legacy = {"dataset": "my"}                                      # a model file from before the record
    with pytest.raises(WorkbenchError) as e:
        model_data(legacy, model="old.wbm")
    assert str(e.value).startswith("old.wbm names data set 'my', which is not a bundled data set")


def test_arrays_are_recorded_and_a_saved_model_asks_for_them(tmp_path):
    x, y = three_class(30, 0)
    xt, yt = three_class(9, 1)
    data = wb.load_data(x=x, y=y, x_test=xt, y_test=yt, class_names=["a", "b", "c"])
    assert data.record["source"] == "arrays" and len(data.record["sha256"]) == 64
    model = wb.train(data, family="rnn", cells="gru", hidden=4, epochs=1)
    assert model.data is data and model.meta["data"]["source"] == "arrays" and "dataset" not in model.meta
    model.save(tmp_path / "a.wbm")
    with pytest.raises(WorkbenchError) as e:
        model_data(modelfile.load(tmp_path / "a.wbm").meta, model="a.wbm")
    assert str(e.value).startswith("a.wbm was trained on arrays passed from Python (sha256 ")


# --- checks, the API's options ------------------------------------------------------------------------

@pytest.mark.parametrize("arrays, message", [
    (dict(x=np.ones((4, 5)), y=[0, 1, 0, 2.5]), "y[3] = 2.5 is not a class index (an integer 0..K-1) or a class name"),
    (dict(x=np.full((4, 5), 1e39), y=[0, 1, 0, 1]), "x[0, 0] = 1e+39 overflows float32 (largest 3.4e+38)"),
    (dict(x=np.ones((4, 5, 2)), y=[0, 1, 0, 1], x_test=np.ones((2, 5, 3)), y_test=[0, 1]),
     "x_test: windows are [T=5, C=3] but the training windows are [T=5, C=2]: both splits need the same steps and "
     "channels"),
    (dict(x=np.ones((4, 5)), y=["a", "b", "", "a"]), "y[2] is an empty label"),
    (dict(x=np.ones((4, 5)), y=[0, 1, 0, 1], class_names=["a"]),
     "y[1] = 1 is not a class index: class_names names 1 classes (0..0)"),
])
def test_arrays_are_checked_like_files(arrays, message):
    with pytest.raises(WorkbenchError) as e:
        wb.load_data(**arrays)
    assert str(e.value) == message


def test_test_split_that_overflows_after_normalisation(tmp_path):
    """Train values barely vary (std floored to 1 is not reached: std 1e-5): a test value of 1e36 is
    finite and within range, but (x - mean) / std overflows float32."""
    x = (np.arange(40).reshape(4, 10, 1) % 2 * 2e-5).astype(np.float32)
    xt = x[:2].copy()
    xt[1, 3, 0] = 1e36
    with pytest.raises(WorkbenchError) as e:
        wb.load_data(x=x, y=[0, 1, 0, 1], x_test=xt, y_test=[0, 1])
    assert str(e.value).startswith("x_test[1, 3, 0] = 1e+36 overflows float32 after normalisation by the training "
                                   "split (channel 0: mean 1e-05, std 1e-05)")


def test_api_takes_the_cli_options_with_the_same_checks(trained):
    folder, mf = trained
    data = wb.load_data(folder / "my.npz")
    with pytest.raises(WorkbenchError, match=r"^unknown training option\(s\) bogus \(have: "):
        wb.train(data, bogus=1)
    with pytest.raises(WorkbenchError, match=r"^--epochs 0: give at least 1$"):
        wb.train(data, epochs=0)
    with pytest.raises(WorkbenchError, match=r"^brick size k=7 does not divide the window length T=40$"):
        wb.train(data, k=7, epochs=1)
    model = wb.load_model(folder / "m.wbm")
    with pytest.raises(WorkbenchError, match=r"^--limit 0: give a number of windows of at least 1$"):
        wb.run(model, limit=0)
    with pytest.raises(WorkbenchError, match=r"^run: unknown option 'bogus' \(have: "):
        wb.run(model, bogus=1)
    with pytest.raises(WorkbenchError, match=r"^unknown board 'nosuch'"):
        wb.run(model, board="nosuch")


def test_import_workbench_loads_no_torch():
    code = "import sys, workbench as wb; wb.load_data; wb.train; wb.Model; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "False"


# --- WAV folders ------------------------------------------------------------------------------------

def write_wav(path: Path, audio: np.ndarray, rate: int = 16000) -> None:
    import wave

    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes((np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes())


def tone_folder(root: Path, clips: int = 5) -> Path:
    for c, freq in enumerate((300.0, 1200.0, 4000.0)):
        for i in range(clips):
            n = 12000 + 2000 * i            # clips shorter than a second are padded, longer ones cut
            write_wav(root / f"tone{c}" / f"clip{i}.wav", 0.3 * np.sin(2 * np.pi * freq * (1 + 0.01 * i) *
                                                                      np.arange(n) / 22050), rate=22050)
    write_wav(root / "_background_noise_" / "noise.wav", np.zeros(16000))
    return root


def test_wav_folder_loads_by_class_with_every_fifth_clip_for_test(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_CACHE", str(tmp_path / "cache"))
    root = tone_folder(tmp_path / "tones")
    data = wb.load_data(root)
    assert data.train.class_names == ["tone0", "tone1", "tone2"]           # _background_noise_ is no class
    assert data.train.x.shape == (12, features.CLIP_FRAMES, features.N_MELS)
    assert data.test.y.tolist() == [0, 1, 2]                                 # clip4 of each class
    assert data.record["format"] == "wav" and data.record["front_end"]["n_mels"] == 32
    peak = data.train.x.mean(axis=1).argmax(axis=1)                          # a tone lands in its mel band
    assert peak[0] < peak[4] < peak[8]
    before = data.record["sha256"]
    write_wav(root / "tone1" / "clip0.wav", np.zeros(8000))
    assert wb.load_data(root).record["sha256"] != before
    (root / "testing_list.txt").write_text("tone0/clip0.wav\ntone2/clip3.wav\n")
    assert wb.load_data(root).test.y.tolist() == [0, 2]


def test_wav_folder_errors_are_one_line(tmp_path):
    (tmp_path / "empty" / "cls").mkdir(parents=True)
    with pytest.raises(WorkbenchError) as e:
        wb.load_data(tmp_path / "empty")
    assert str(e.value).startswith(f"{tmp_path / 'empty'}: no class folders with .wav files")
    root = tone_folder(tmp_path / "t", clips=1)
    (root / "testing_list.txt").write_text("tone0/ghost.wav\n")
    with pytest.raises(WorkbenchError, match="lists tone0/ghost.wav, which is not a clip of a class folder"):
        wb.load_data(root)


# --- models trained elsewhere ---------------------------------------------------------------------------

class RecurrentThenHead(nn.Module):
    """What a user writes: one recurrent layer, then a linear head on the last step."""

    def __init__(self, layer, classes: int):
        super().__init__()
        self.rnn, self.head = layer, nn.Linear(layer.hidden_size, classes)

    def forward(self, x):
        out, _ = self.rnn(x)
        return self.head(out[:, -1] if self.rnn.batch_first else out[-1])


class MeanPooled(RecurrentThenHead):
    def forward(self, x):
        out, _ = self.rnn(x)
        return self.head(out.mean(dim=1))


def user_logits(module, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        t = torch.from_numpy(x)
        return module(t if module.rnn.batch_first else t.transpose(0, 1)).numpy()


@pytest.mark.parametrize("layer", [lambda: nn.GRU(6, 16, batch_first=True), lambda: nn.LSTM(6, 12)],
                         ids=["gru-batch-first", "lstm-time-major"])
def test_from_torch_logits_equal_the_modules(basicmotions, layer):
    torch.manual_seed(0)
    module = RecurrentThenHead(layer(), 4).eval()
    data = wb.load_data("BasicMotions")
    model = wb.from_torch(module, data=data)
    assert model.config["family"] == "rnn"
    assert {k: v for k, v in model.meta["data"].items() if k != "normalisation"} == \
        {**data.record, "window": 100, "channels": 6}
    diff = np.abs(model.logits(data.test.x) - user_logits(module, data.test.x)).max()
    assert diff <= 1e-6, diff


def test_from_torch_sharnn_of_layers():
    torch.manual_seed(1)
    lower, upper, head = nn.LSTM(3, 8, batch_first=True), nn.GRU(8, 6, batch_first=True), nn.Linear(6, 5)
    model = wb.from_torch(lower=lower, upper=upper, head=head, k=5, window=20)
    x = torch.randn(4, 20, 3)
    with torch.no_grad():                                    # the ShaRNN written out by hand
        bricks = x.reshape(4 * 4, 5, 3)
        _, (h, _) = lower(bricks)
        _, g = upper(h[0].reshape(4, 4, 8))
        expected = head(g[0]).numpy()
    assert model.config["cells"] == ["lstm", "gru"] and model.config["k"] == 5
    assert np.abs(model.logits(x.numpy()) - expected).max() <= 1e-6


def test_from_torch_folds_the_users_normalisation_in():
    torch.manual_seed(3)
    module = RecurrentThenHead(nn.GRU(2, 8, batch_first=True), 3).eval()
    mean, std = np.array([5.0, -2.0]), np.array([2.0, 0.5])
    model = wb.from_torch(module, window=30, mean=mean, std=std)
    raw = (np.random.default_rng(0).standard_normal((4, 30, 2)) * std + mean).astype(np.float32)
    expected = user_logits(module, ((raw - mean) / std).astype(np.float32))
    assert np.abs(model.logits(raw) - expected).max() <= 1e-5


@pytest.mark.parametrize("make, message", [
    (lambda: RecurrentThenHead(nn.GRU(6, 8, num_layers=2, batch_first=True), 4),
     "the recurrent layer: 2 layers; each level takes one (num_layers=1)"),
    (lambda: RecurrentThenHead(nn.GRU(6, 8, bidirectional=True, batch_first=True), 4),
     "the recurrent layer: a bidirectional layer does not stream"),
    (lambda: MeanPooled(nn.GRU(6, 8, batch_first=True), 4),
     "the module's logits differ from the imported model's by up to"),
    (lambda: RecurrentThenHead(nn.RNN(6, 8, batch_first=True), 4), "the module holds a RNN"),
])
def test_from_torch_refuses_what_it_cannot_import(make, message):
    torch.manual_seed(0)
    with pytest.raises(WorkbenchError) as e:
        wb.from_torch(make(), window=100)
    assert str(e.value).startswith(message) and "\n" not in str(e.value)


def test_from_torch_refuses_non_finite_weights():
    module = RecurrentThenHead(nn.GRU(6, 8, batch_first=True), 4)
    with torch.no_grad():
        module.head.weight[0, 0] = float("nan")
    with pytest.raises(WorkbenchError, match=r"^the imported model: weight fc.weight holds NaN or infinite values; "
                                             r"nothing imported$"):
        wb.from_torch(module, window=100)


def test_workbench_import_a_state_dict(tmp_path, basicmotions, capsys):
    torch.manual_seed(2)
    module = RecurrentThenHead(nn.GRU(6, 16, batch_first=True), 4).eval()
    torch.save(module.state_dict(), tmp_path / "state.pt")
    out = tmp_path / "m.wbm"
    assert cli.main(["import", str(tmp_path / "state.pt"), "--cell", "gru", "--dataset", "BasicMotions",
                     "--out", str(out)]) == 0
    mf = modelfile.load(out)
    assert mf.meta["dataset"] == "BasicMotions"
    assert mf.meta["source"] == {"torch_state_dict": str(tmp_path / "state.pt")}
    test = basicmotions[1]
    assert np.abs(wb.load_model(out).logits(test.x) - user_logits(module, test.x)).max() <= 1e-6
    capsys.readouterr()
    assert cli.main(["import", str(tmp_path / "state.pt"), "--cell", "lstm", "--window", "100",
                     "--out", str(tmp_path / "x.wbm")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"workbench: error: {tmp_path / 'state.pt'}: rnn is a GRU (3 gates), not a LSTM: --cell gru"
    assert not (tmp_path / "x.wbm").exists()
    sharnn = {**{f"low.{k}": v for k, v in nn.LSTM(6, 8).state_dict().items()},
              **{f"up.{k}": v for k, v in nn.GRU(8, 8).state_dict().items()},
              **{f"fc.{k}": v for k, v in nn.Linear(8, 4).state_dict().items()}}
    torch.save(sharnn, tmp_path / "sharnn.pt")
    assert cli.main(["import", str(tmp_path / "sharnn.pt"), "--cell", "lstm,gru", "--k", "10", "--window", "100",
                     "--out", str(tmp_path / "s.wbm")]) == 0
    cfg = modelfile.load(tmp_path / "s.wbm").config
    assert (cfg["family"], cfg["cells"], cfg["hidden"], cfg["k"]) == ("sharnn", ["lstm", "gru"], [8, 8], 10)


# --- on the device ---------------------------------------------------------------------------------------

def profile_agreements(path: Path) -> dict:
    metrics = json.loads(path.read_text())["metrics"]
    return {k: metrics[k]["value"] for k in AGREEMENTS if k in metrics}


@needs_qemu
@pytest.mark.slow
@pytest.mark.parametrize("kind", ["npz", "csv"])
def test_own_file_trains_and_runs_in_int16_from_its_record(kind, tmp_path, monkeypatch, capsys):
    """train -> run --quant q15 with no --dataset; moved -> --dataset NEWPATH; changed -> refused."""
    monkeypatch.chdir(tmp_path)
    data = write_npz(Path("my.npz")) if kind == "npz" else write_csv(Path("my.csv"))
    run = ["run", "--model", "m.wbm", "--quant", "q15", "--link", "semihost"]
    assert cli.main(["train", "--dataset", str(data), "--hidden", "8", "--k", "10", "--epochs", "5",
                     "--out", "m.wbm"]) == 0
    assert cli.main(run + ["--out", "a.json"]) == 0
    first = profile_agreements(tmp_path / "a.json")
    assert first == dict.fromkeys(AGREEMENTS, 1.0)
    Path("moved").mkdir()
    for f in tmp_path.glob(f"my*.{kind}"):
        f.rename(Path("moved") / f.name)
    assert cli.main(run + ["--dataset", f"moved/{data.name}", "--out", "b.json"]) == 0
    assert profile_agreements(tmp_path / "b.json") == dict.fromkeys(AGREEMENTS, 1.0)
    for f in Path("moved").iterdir():
        f.rename(f.name)
    text = data.read_bytes()
    data.write_bytes(text.replace(b"one", b"uno", 1) if kind == "csv" else text + b"\0")
    capsys.readouterr()
    assert cli.main(run + ["--out", "c.json"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "changed since training" in err[0] and "with sha256" in err[0]
    assert not (tmp_path / "c.json").exists()


def readme_blocks(lang: str) -> list[str]:
    import re

    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Your own data and models"):text.index("## Where the numbers come from")]
    return re.findall(rf"```{lang}\n(.*?)```", section, re.S)


@needs_qemu
@pytest.mark.slow
def test_readme_python_example_runs_verbatim(tmp_path):
    """The README's numpy example makes my.npz; its Python API example, run as it is written, trains,
    saves, runs in int16 on the emulated board and prints the device accuracy."""
    make, example = readme_blocks("python")
    assert "wb.load_data(\"my.npz\")" in example and "quant=\"q15\"" in example
    (tmp_path / "make.py").write_text(make)
    (tmp_path / "example.py").write_text(example)
    env = {**__import__("os").environ, "PYTHONPATH": str(ROOT)}
    subprocess.run([sys.executable, "make.py"], cwd=tmp_path, env=env, check=True)
    out = subprocess.run([sys.executable, "example.py"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "1.0"                    # accuracy.device on the easy waves
    assert modelfile.load(tmp_path / "m.wbm").meta["data"]["path"] == "my.npz"


@needs_qemu
@pytest.mark.slow
def test_from_torch_runs_on_the_device_in_f32_and_int16(basicmotions):
    """A freshly initialised nn.GRU(6, 16, batch_first=True) + nn.Linear(16, 4): logits equal to 1e-6,
    the device equals the host C bit for bit in f32 and the numpy integer reference in int16."""
    torch.manual_seed(0)
    module = RecurrentThenHead(nn.GRU(6, 16, batch_first=True), 4).eval()
    data = wb.load_data("BasicMotions")
    model = wb.from_torch(module, data=data)
    assert np.abs(model.logits(data.test.x) - user_logits(module, data.test.x)).max() <= 1e-6
    f32 = wb.run(model, quant="f32", link="semihost")["metrics"]
    assert f32["agreement.device_host"]["value"] == 1.0 and f32["agreement.device_torch_class"]["value"] == 1.0
    q15 = wb.run(model, quant="q15", link="semihost")["metrics"]
    for key in ("agreement.device_host", "agreement.device_reference", "agreement.host_reference"):
        assert q15[key]["value"] == 1.0, key


ESPEAK = shutil.which("espeak-ng")


@needs_qemu
@pytest.mark.slow
@pytest.mark.skipif(ESPEAK is None, reason="needs espeak-ng")
def test_wav_folder_made_with_espeak_trains_and_runs_on_the_device(tmp_path, monkeypatch):
    """3 words x 10 clips (two voices, five speeds each) -> train -> the device, f32 and int16."""
    monkeypatch.setenv("WORKBENCH_CACHE", str(tmp_path / "cache"))
    root = tmp_path / "words"
    for word in ("yes", "no", "stop"):
        (root / word).mkdir(parents=True)
        for voice in ("en-us+m3", "en-us+f2"):
            for speed in (120, 140, 160, 180, 200):
                subprocess.run([ESPEAK, "-v", voice, "-s", str(speed), "-w",
                                str(root / word / f"{voice.replace('+', '_')}_{speed}.wav"), word], check=True)
    data = wb.load_data(root)
    assert (data.train.num_windows, data.test.num_windows) == (24, 6)
    model = wb.train(data, cells="gru", hidden=16, k=9, epochs=40, seed=0)
    for quant, exact in (("f32", "agreement.device_host"), ("q15", "agreement.device_reference")):
        metrics = wb.run(model, quant=quant, link="semihost")["metrics"]
        assert metrics[exact]["value"] == 1.0 and metrics["agreement.stream_full"]["value"] == 1.0
        assert metrics["accuracy.device"]["value"] == metrics["accuracy.host"]["value"]

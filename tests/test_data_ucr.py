"""The UCR/UEA ``.ts`` parser and loader (files from the aeon wheel; aeon itself is never imported)."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from workbench.data import load_dataset
from workbench.data.ucr import pad_series, parse_ts
from workbench.errors import WorkbenchError

needs_aeon = pytest.mark.skipif(importlib.util.find_spec("aeon") is None,
                                reason="needs the aeon wheel (pip install --no-deps aeon)")


@needs_aeon
def test_basic_motions():
    train, test = load_dataset("BasicMotions", "train"), load_dataset("BasicMotions", "test")
    assert train.x.shape == (40, 100, 6) and test.x.shape == (40, 100, 6)
    assert train.x.dtype == np.float32 and train.num_classes == 4
    assert sorted(c.lower() for c in train.class_names) == ["badminton", "running", "standing", "walking"]
    assert set(np.unique(train.y)) == set(range(4)) == set(np.unique(test.y))
    assert np.all(train.lengths == 100) and train.sample_rate_hz == 10.0
    assert np.all(np.isfinite(train.x))


@needs_aeon
def test_japanese_vowels_uneven_lengths_are_padded():
    train, test = load_dataset("JapaneseVowels", "train"), load_dataset("JapaneseVowels", "test")
    assert train.x.shape == (270, 29, 12) and test.x.shape == (370, 29, 12)
    assert train.class_names == [str(i) for i in range(1, 10)]
    lengths = np.concatenate([train.lengths, test.lengths])
    assert lengths.min() == 7 and lengths.max() == 29
    short = int(np.argmin(train.lengths))
    n = int(train.lengths[short])
    assert np.all(train.x[short, n:] == 0) and np.any(train.x[short, n - 1] != 0)


GOOD = """# a comment
@problemName Toy
@univariate false
@dimensions 2
@classLabel true up down
@data
1,2,3:4,5,6:up
1,2:3,4:down
"""


def test_parse_ts_valid_text():
    series, labels, declared = parse_ts(GOOD, "toy.ts")
    assert [s.shape for s in series] == [(3, 2), (2, 2)]
    assert labels == ["up", "down"] and declared == ["up", "down"]
    np.testing.assert_array_equal(series[0][:, 1], [4, 5, 6])
    x, lengths = pad_series(series)
    assert x.shape == (2, 3, 2) and lengths.tolist() == [3, 2] and x[1, 2].tolist() == [0, 0]


def test_parse_ts_missing_values_become_zero_after_padding():
    series, _, _ = parse_ts("@classLabel true a\n@data\n1,?,3:a\n", "m.ts")
    assert np.isnan(series[0][1, 0])
    x, _ = pad_series(series)
    assert x[0, :, 0].tolist() == [1, 0, 3]


@pytest.mark.parametrize("text, where, what", [
    (GOOD.replace("1,2:3,4:down", "1,2:3,x:down"), "toy.ts:8:", "bad number"),
    (GOOD.replace("1,2:3,4:down", "1,2:3,4,5:down"), "toy.ts:8:", "differ in length"),
    (GOOD.replace("1,2:3,4:down", "justalabel"), "toy.ts:8:", "at least one dimension"),
    (GOOD.replace("@problemName Toy", "problemName Toy"), "toy.ts:2:", "@header"),
    (GOOD.replace("@data\n", ""), "toy.ts:", "@header"),
    ("@classLabel true a\n", "toy.ts:", "no @data"),
    ("@classLabel true a\n@data\n", "toy.ts:", "no cases"),
    (GOOD.replace("1,2:3,4:down", "1,2:down"), "toy.ts:", "different numbers of dimensions"),
])
def test_parse_ts_rejects_malformed_text_naming_the_line(text, where, what):
    with pytest.raises(WorkbenchError) as e:
        parse_ts(text, "toy.ts")
    msg = str(e.value)
    assert "\n" not in msg and where in msg and what in msg, msg

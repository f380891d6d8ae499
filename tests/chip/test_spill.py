"""Activations too large for the chip's activation memory go off chip and back (docs/model.md, "Off-chip
traffic"). Each Einsum is mapped alone, and without this rule AccelForge held any activation in the 96 KB
activation memory one tile at a time, as if a fused neighbour streamed the rest: a 393 KB FFN output never
cost an off-chip write. Small shapes on a 1 KB activation memory (`activation_kb=1`) keep the mapping fast."""

from pathlib import Path

import pytest

from sparsecim.mapping.mapper import load_spec, map_einsum, onchip_capacity_bits, spilled_tensors
from sparsecim.workload.einsums import EinsumSpec, matmul

ARCH = Path(__file__).resolve().parents[2] / "arch" / "isscc23_16_2.yaml"
SMALL = {"activation_kb": 1}  # 8192 bits
OFFCHIP_BITS_PER_ACCESS = 64  # the arch's OffChip read/write width


def offchip_bits(cost, action):
    return cost.actions.get(f"OffChip.{action}", 0.0) * OFFCHIP_BITS_PER_ACCESS


def test_capacity_is_the_activation_memory_read_from_the_arch():
    """The outermost bounded memory below the unbounded off-chip one: 96 KB by default, and it follows
    the arch's variable (nothing in the code names the component)."""
    assert onchip_capacity_bits(load_spec(ARCH, matmul(1, 16, 32, 32))) == 96 * 1024 * 8
    assert onchip_capacity_bits(load_spec(ARCH, matmul(1, 16, 32, 32), SMALL)) == 1024 * 8


def test_bert_base_at_128_tokens():
    """BERT-base FFN up-projection at 128 tokens: the output (128 x 3072 B = 384 KB) cannot stay on chip;
    the input (128 x 768 B = 96 KB, exactly the memory) can."""
    spec = matmul(1, 128, 768, 3072)
    capacity = onchip_capacity_bits(load_spec(ARCH, spec))
    assert spilled_tensors(spec, capacity) == {"Y"}
    assert spilled_tensors(matmul(1, 128, 3072, 768), capacity) == {"X"}
    assert spilled_tensors(matmul(1, 128, 768, 768), capacity) == set()


def test_gathered_keys_are_judged_by_the_keys_they_hold():
    """The no-reuse attention form re-reads each key once per window it is in; whether K fits depends on
    the keys themselves (one per query position), not on the re-reads."""
    gather = EinsumSpec("qk_gather", (("b", 1), ("h", 12), ("m", 128), ("p", 64), ("e", 64)), weight_from_dram=False)
    assert gather.tensor_bits()["K"] == 12 * 128 * 64 * 64 * 8
    assert gather.footprint_bits()["K"] == 12 * 128 * 64 * 8
    assert "K" not in spilled_tensors(gather, 96 * 1024 * 8)


def test_an_output_larger_than_the_memory_is_written_off_chip_once():
    """Y (16 x 128 x 8 b = 16384 b) exceeds the 8192-b memory: the Einsum writes it off chip, exactly its
    size (it is produced whole per output, no partial sums leave the chip here); X (4096 b) fits and is
    never read from off chip: the off-chip reads are the trained weights only."""
    spec = matmul(1, 16, 32, 128)
    bits = spec.tensor_bits()
    cost = map_einsum(ARCH, spec, SMALL)
    assert offchip_bits(cost, "write") == pytest.approx(bits["Y"], rel=0.01)
    assert offchip_bits(cost, "read") == pytest.approx(bits["W"], rel=0.01)


def test_an_input_larger_than_the_memory_is_read_from_off_chip():
    """X (16 x 128 x 8 b) exceeds the memory: it is read from off chip (at least once; more if the
    mapper re-reads it), on top of the weights; the output fits and stays on chip."""
    spec = matmul(1, 16, 128, 32)
    bits = spec.tensor_bits()
    cost = map_einsum(ARCH, spec, SMALL)
    assert offchip_bits(cost, "read") >= bits["W"] + bits["X"] * 0.99
    assert offchip_bits(cost, "write") == 0.0


def test_tensors_that_fit_stay_on_chip():
    """Same memory, every activation fits: no off-chip write, and reads are the weights only."""
    spec = matmul(1, 16, 32, 32)
    assert max(spec.tensor_bits()[t] for t in ("X", "Y")) <= 8192
    cost = map_einsum(ARCH, spec, SMALL)
    assert offchip_bits(cost, "write") == 0.0
    assert offchip_bits(cost, "read") == pytest.approx(spec.tensor_bits()["W"], rel=0.01)


def test_spilled_keys_still_run_on_the_kv_cim():
    """Attention whose K and scores do not fit: K is read from off chip and the scores written there,
    and the Einsum still runs on the LAR engine's KV CIM (spilled K is `offchip`, not a trained weight)."""
    spec = EinsumSpec("qk", (("b", 1), ("h", 2), ("m", 32), ("p", 32), ("e", 64)), weight_from_dram=False)
    bits = spec.tensor_bits()
    assert spilled_tensors(spec, 8192) == {"Q", "K", "S"}
    cost = map_einsum(ARCH, spec, SMALL)
    dynamic = {c: e - cost.leak_energy_j.get(c, 0.0) for c, e in cost.energy_j.items()}  # idle units leak
    assert dynamic.get("LarMac", 0.0) > 0
    assert dynamic.get("BflyMac", 0.0) == pytest.approx(0.0, abs=1e-18)
    assert offchip_bits(cost, "write") == pytest.approx(bits["S"], rel=0.01)
    assert offchip_bits(cost, "read") >= (bits["K"] + bits["Q"]) * 0.99

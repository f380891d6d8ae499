"""Generation on one chip or an N-chip system: prefill of the prompt, then decode with a KV cache.

    result = run_generation(RunRequest(model="llama-2-7b", phase="decode", seq_len=128, generate=128,
                                       system=SystemOptions(chips=4)))

Both phases go through the ordinary stages (`rewrite` -> one chip's share, `rewrite.partition` ->
`mapping.map_workload`); this module adds what the per-Einsum mapping does not see, with the
same rule AccelForge applies inside an Einsum (its components overlap; the slowest sets its time):

* KV cache (docs/decode.md): the LAR engine's KV banks of all chips (n_cores x kv_banks x 64 x 128 bits
  per chip) hold what fits of the cache; the rest lives off chip. Every step reads the spilled part of
  its keys' K and V rows back and writes the spilled share of its new rows, over the chip's off-chip
  link at the arch's `offchip_gbps` / `offchip_pj_per_bit` (a uniform spill fraction across layers and
  heads, assumed). The reads overlap the attention Einsums of the phase (Q.K^T reads K, P.V reads V):
  the attention takes the longer of its mapped time and its KV traffic time. The prefill writes the
  prompt's spilled rows once.
* D2D links (`mapping.system`): all-reduces (tensor-parallel) and sends (pipeline) of `rewrite.partition`,
  priced at the link's bandwidth, energy per bit and synchronisation latency, not overlapped with compute
  unless `overlap` says so.
* Idle chips leak: the chips that wait (pipeline stages not running, all chips during a transfer or
  while the KV traffic outlasts the attention) draw the chip's leakage power (from its mapped leakage).

Weights: streamed from off chip every pass by the mapped Einsums (trained weights live off chip,
`EinsumSpec.weight_from_dram`); with the chip's bit-mask format the traffic is what is stored: 8 b per
stored weight (padding included) + 1 mask bit per position (`rewrite.sparse`).

Each phase reports its time, its energy split (compute, on-chip memories, off-chip weights, KV-cache
traffic, D2D links, idle leakage) and what bounds it: every Einsum's time goes to the class of its
slowest component (compute units, on-chip memories, off-chip), the KV traffic's excess to off-chip and
the transfers to D2D; the phase is bound by the class with the largest share.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

from sparsecim.attention.profile import HeadSpan, SpanProfile
from sparsecim.cases import Case
from sparsecim.errors import InputError, SparsecimError, one_line
from sparsecim.mapping.aggregate import map_workload
from sparsecim.mapping.arch import spec_values
from sparsecim.mapping.result import EinsumRow, ModelResult
from sparsecim.mapping.system import SystemOptions
from sparsecim.mapping.workers import ProgressFn, map_all
from sparsecim.pipeline import Prepared, mapping_variables, prepare
from sparsecim.request import RunRequest
from sparsecim.rewrite import rewrite
from sparsecim.rewrite.lar import LarOptions
from sparsecim.rewrite.partition import ChipShare, Partition, partition
from sparsecim.rewrite.sparse import Scheme
from sparsecim.studies.compare import CHIP, Design
from sparsecim.studies.reference import A100_SXM_80GB, RooflineGeneration, roofline_generation
from sparsecim.workload.decode import KV_BITS, DecodeWorkload, Phase, build_decode, check_generation, with_rotary
from sparsecim.workload.einsums import Kind

ENERGY_PARTS = ("compute", "on-chip memories", "off-chip weights", "KV-cache traffic", "D2D links", "idle leakage")
BOUNDS = ("compute", "on-chip memory", "off-chip", "D2D")
ATTENTION_KINDS = (Kind.QK, Kind.AV)  # the Einsums that read the cached K (Q.K^T) and V (P.V)
# Component classes that are storage (the rest of the chip is compute: MAC arrays, butterfly routing,
# decoder, softmax, norm and scale units). Matched as words in the hwcomponents class name.
MEMORY_CLASS_WORDS = ("sram", "dram", "array", "buffer", "cache", "regfile", "memory", "latch")


def component_class(component: str, result: ModelResult) -> str:
    """'off-chip', 'on-chip memory' or 'compute' for a component of the result's arch."""
    if component in result.roles.offchip:
        return "off-chip"
    cls = result.roles.classes.get(component, "").lower()
    return "on-chip memory" if any(word in cls for word in MEMORY_CLASS_WORDS) else "compute"


@dataclass(frozen=True)
class LinkFigures:
    """The per-chip off-chip link and KV capacity, read from the arch's variables."""

    offchip_bits_per_s: float
    offchip_pj_per_bit: float
    kv_capacity_values: int  # 8-bit K/V values the KV banks of one chip hold

    @classmethod
    def of(cls, result: ModelResult, arch_values: dict) -> "LinkFigures":
        missing = [name for name in ("offchip_gbps", "offchip_pj_per_bit") if name not in arch_values]
        if missing:
            raise InputError(f"generation needs an arch with the off-chip link variables offchip_gbps and offchip_pj_per_bit ({result.arch} lacks {missing[0]})")
        structure = ("n_cores", "kv_banks", "bank_rows", "bank_bit_columns")
        capacity = math.prod(int(arch_values[n]) for n in structure) // KV_BITS if all(n in arch_values for n in structure) else 0
        return cls(float(arch_values["offchip_gbps"]) * 1e9, float(arch_values["offchip_pj_per_bit"]), capacity)


@dataclass
class PhaseResult:
    """One phase of a generation request on the whole system."""

    phase: Phase
    tokens: int  # prompt tokens (prefill) or generated tokens (decode), all sequences
    latency_s: float
    energy_j: dict[str, float]  # ENERGY_PARTS -> J, all chips
    time_s: dict[str, float]  # BOUNDS -> s: the phase's time by what bounds it
    result: ModelResult  # one chip's mapped share (pipeline: the whole model, stage after stage)
    chips: int
    offchip_weight_bits: float = 0.0  # all chips
    kv_offchip_bits: float = 0.0  # all chips
    d2d_bits: float = 0.0

    @property
    def energy_total_j(self) -> float:
        return sum(self.energy_j.values())

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.latency_s if self.latency_s else 0.0

    @property
    def j_per_token(self) -> float:
        return self.energy_total_j / self.tokens if self.tokens else 0.0

    @property
    def bound(self) -> str:
        """What bounds the phase: the class with the largest share of its time."""
        return max(self.time_s, key=self.time_s.get)

    def summary(self) -> dict:
        out = {"phase": str(self.phase), "tokens": self.tokens, "latency_s": self.latency_s, "tokens_per_s": self.tokens_per_s,
               "J_per_token": self.j_per_token, "energy_J": self.energy_total_j, "bound": self.bound,
               "offchip_weight_bits": self.offchip_weight_bits, "kv_offchip_bits": self.kv_offchip_bits, "d2d_bits": self.d2d_bits}
        out.update({f"energy_{part}_J": value for part, value in self.energy_j.items()})
        out.update({f"time_{bound}_s": value for bound, value in self.time_s.items()})
        return out


@dataclass
class GenerationResult:
    """A generation request on one chip or an N-chip system, with the GPU roofline beside it."""

    model: str
    arch: str
    prompt: int
    generate: int
    batch: int
    system: SystemOptions
    prefill: PhaseResult
    decode: PhaseResult
    reference: RooflineGeneration
    reference_sparse: RooflineGeneration
    variables: dict = field(default_factory=dict)  # the arch's variables as run (defaults included)
    notes: list[str] = field(default_factory=list)

    @property
    def time_to_first_token_s(self) -> float:
        return self.prefill.latency_s

    @property
    def tokens_per_s(self) -> float:
        """Decode throughput: generated tokens (all sequences) per second of decoding."""
        return self.decode.tokens_per_s

    @property
    def j_per_token(self) -> float:
        """Decode energy per generated token [J] (all chips, off-chip traffic included)."""
        return self.decode.j_per_token

    @property
    def speedup_vs_reference(self) -> float:
        return self.tokens_per_s / self.reference.decode.tokens_per_s

    @property
    def energy_gain_vs_reference(self) -> float:
        return self.reference.decode.j_per_token / self.j_per_token

    def summary(self) -> dict:
        out = {"model": self.model, "arch": self.arch, "prompt": self.prompt, "generate": self.generate, "batch": self.batch,
               "chips": self.system.chips, "partition": str(self.system.partition), "time_to_first_token_s": self.time_to_first_token_s,
               "decode_tokens_per_s": self.tokens_per_s, "decode_J_per_token": self.j_per_token,
               "reference": self.reference.label, "reference_tokens_per_s": self.reference.decode.tokens_per_s,
               "reference_J_per_token": self.reference.decode.j_per_token, "speedup_vs_reference": self.speedup_vs_reference,
               "energy_gain_vs_reference": self.energy_gain_vs_reference}
        for phase in (self.prefill, self.decode):
            out.update({f"{phase.phase}_{key}": value for key, value in phase.summary().items() if key != "phase"})
        return out


def _kv_bits(workload, kv: DecodeWorkload, capacity: int) -> tuple[float, float]:
    """(off-chip KV bits, of which reads) of a phase: spilled reads and writes (docs/decode.md)."""

    def spilled(footprint: int) -> float:
        return max(0.0, 1.0 - capacity / footprint) if footprint else 0.0

    if not isinstance(workload, DecodeWorkload):  # prefill: write the prompt's spilled rows once
        footprint = kv.cache_values(kv.prompt)
        return footprint * spilled(footprint) * KV_BITS, 0.0
    reads = writes = 0.0
    for position in kv.positions:
        cached = kv.cache_values(position)
        fraction = spilled(cached + kv.row_values)
        reads += cached * fraction
        writes += kv.row_values * fraction
    return (reads + writes) * KV_BITS, reads * KV_BITS


def _transfers(share: ChipShare, system: SystemOptions) -> tuple[float, float]:
    """(time, bits on the links) of the phase's chip-to-chip transfers."""
    chips, link = share.chips, system.link
    time = bits = 0.0
    for t in share.transfers:
        if t.kind == "all-reduce":  # ring: 2 (N - 1) steps of 1/N of the message, each chip sending at once
            message = t.values * (t.bits_per_value or system.reduce_bits)
            steps = 2 * (chips - 1) * t.count
            time += link.seconds(steps * message / chips, steps)
            bits += steps * message
        else:
            message = t.values * (t.bits_per_value or 8)
            time += link.seconds(t.count * message, t.count)
            bits += t.count * message
    return time, bits


def phase_result(
    phase: Phase, share: ChipShare, result: ModelResult, kv: DecodeWorkload, link: LinkFigures, system: SystemOptions
) -> PhaseResult:
    """The whole system's time and energy for one phase from one chip's mapped share (module docstring)."""
    chips = share.chips
    copies = chips if share.concurrent else 1  # chips whose mapped work the phase runs at once
    time_s = dict.fromkeys(BOUNDS, 0.0)
    energy = dict.fromkeys(ENERGY_PARTS, 0.0)
    part_of = {"compute": "compute", "on-chip memory": "on-chip memories", "off-chip": "off-chip weights"}

    def row_time(row: EinsumRow) -> float:
        return row.latency_s * share.imbalance.get(row.kind, 1.0)

    def bottleneck(row: EinsumRow) -> str:
        latencies = row.component_latency_s or {"?": row.latency_s}
        return component_class(max(latencies, key=latencies.get), result)

    kv_total_bits, _ = _kv_bits(share.rewritten.workload, kv, chips * link.kv_capacity_values)
    kv_time = (kv_total_bits / (chips if share.concurrent else 1)) / link.offchip_bits_per_s
    attention = {id(r) for r in result.rows if r.kind in ATTENTION_KINDS}
    attention_time = sum(row_time(r) for r in result.rows if id(r) in attention)
    kv_bound = kv_time > attention_time
    for row in result.rows:
        if not (kv_bound and id(row) in attention):
            time_s[bottleneck(row)] += row_time(row)
        for component, joules in row.energy_j.items():
            energy[part_of[component_class(component, result)]] += copies * joules
    if kv_bound:
        time_s["off-chip"] += kv_time
    transfer_time, d2d_bits = _transfers(share, system)
    time_s["D2D"] = (1.0 - system.overlap) * transfer_time
    latency = sum(time_s.values())
    energy["KV-cache traffic"] = kv_total_bits * link.offchip_pj_per_bit * 1e-12
    energy["D2D links"] = d2d_bits * system.link.pj_per_bit * 1e-12
    mapped_time = sum(r.latency_s for r in result.rows)
    onchip_leak = sum(j for c, j in result.leak_energy_by_component_j.items() if c not in result.roles.offchip)
    leak_power = onchip_leak / mapped_time if mapped_time else 0.0
    idle_chip_seconds = max(0.0, chips * latency - copies * mapped_time)
    energy["idle leakage"] = leak_power * idle_chip_seconds
    weight_bits = energy["off-chip weights"] / (link.offchip_pj_per_bit * 1e-12) if link.offchip_pj_per_bit else 0.0
    tokens = share.rewritten.workload.seq_len * share.rewritten.workload.batch
    return PhaseResult(phase, tokens, latency, energy, time_s, result, chips, weight_bits, kv_total_bits, d2d_bits)


def _within(spans: SpanProfile | None, prompt: int) -> SpanProfile | None:
    """The span profile for a prefill of `prompt` tokens: windows that reach past the prompt keep every
    earlier key there (window prompt - 1), as they do at those positions in decode."""
    if spans is None or all(h.window is None or h.window < prompt for layer in spans.layers for h in layer):
        return spans
    layers = [[h if h.window is None or h.window < prompt else HeadSpan(prompt - 1, min(h.n_sink, prompt), h.is_global) for h in layer]
              for layer in spans.layers]
    return spans.with_layers(layers, seq_len=prompt)


def evaluate_phases(
    prepared: Prepared,
    generate: int,
    system: SystemOptions = SystemOptions(),
    scheme: Scheme = Scheme.CHIP,
    lar: LarOptions | None = None,
    use_cache: bool = True,
    progress: ProgressFn | None = None,
    jobs: int | None = None,
    extra_variables: dict | None = None,
    phases: tuple[Phase, ...] = (Phase.PREFILL, Phase.DECODE),
) -> tuple[dict[Phase, PhaseResult], dict]:
    """The given phases of a generation request (the prepared prompt workload, then `generate` decode
    steps) on `system`, and the arch's variables as run.

    The phases are rewritten and split first, and (with the cache) their distinct Einsums are mapped in
    one pool, so the workers stay busy across the phases; each phase is then aggregated from the cache."""
    shape, prompt, batch = prepared.shape, prepared.workload.seq_len, prepared.workload.batch
    check_generation(shape, prompt, generate, batch)
    decode = rewrite(build_decode(shape, prompt, generate, batch), prepared.sparsity, prepared.spans, scheme, lar)
    rewritten = {Phase.DECODE: decode}
    if Phase.PREFILL in phases:
        spans = _within(prepared.spans, prompt)
        rewritten[Phase.PREFILL] = rewrite(with_rotary(prepared.workload), prepared.sparsity, spans, scheme, lar)
    shares = {phase: partition(rewritten[phase], system.chips, system.partition) for phase in phases}
    variables = mapping_variables(prepared, decode, extra_variables)
    if use_cache:
        specs = list(dict.fromkeys(spec for share in shares.values() for spec in share.rewritten.workload.unique_specs()))
        specs.sort(key=lambda spec: (spec.form != "matmul", -spec.operations))  # the longest searches first: a shorter tail
        map_all(prepared.arch_path, specs, variables, use_cache, progress, jobs)
    mapped = {phase: map_workload(prepared.arch_path, share.rewritten, variables, use_cache=use_cache, progress=None if use_cache else progress,
                                  arch_name=prepared.arch_name, jobs=jobs)
              for phase, share in shares.items()}
    kv = decode.workload  # the decode workload after the span rewrite: its KV windows (the whole system's cache)
    arch_values = spec_values(prepared.arch_path, variables)
    link = LinkFigures.of(next(iter(mapped.values())), arch_values)
    return {phase: phase_result(phase, shares[phase], mapped[phase], kv, link, system) for phase in phases}, arch_values


def evaluate_generation(
    prepared: Prepared,
    generate: int,
    system: SystemOptions = SystemOptions(),
    scheme: Scheme = Scheme.CHIP,
    lar: LarOptions | None = None,
    use_cache: bool = True,
    progress: ProgressFn | None = None,
    jobs: int | None = None,
    extra_variables: dict | None = None,
) -> GenerationResult:
    """Prefill of the prepared prompt workload and `generate` decode steps, on `system`, with the A100
    roofline beside them."""
    results, arch_values = evaluate_phases(prepared, generate, system, scheme, lar, use_cache, progress, jobs, extra_variables)
    shape, prompt, batch = prepared.shape, prepared.workload.seq_len, prepared.workload.batch
    notes = list(dict.fromkeys(results[Phase.DECODE].result.notes + results[Phase.PREFILL].result.notes))
    return GenerationResult(
        model=shape.name,
        arch=prepared.arch_name,
        prompt=prompt,
        generate=generate,
        batch=batch,
        system=system,
        prefill=results[Phase.PREFILL],
        decode=results[Phase.DECODE],
        reference=roofline_generation(shape, prompt, generate, batch, A100_SXM_80GB, sparse=False),
        reference_sparse=roofline_generation(shape, prompt, generate, batch, A100_SXM_80GB, sparse=True),
        variables=arch_values,
        notes=notes,
    )


def run_generation(request: RunRequest, use_cache: bool = True, progress: ProgressFn | None = None, jobs: int | None = None) -> GenerationResult:
    """A decode request (`phase` decode): prefill of `seq_len` prompt tokens, then `generate` steps."""
    if request.phase is not Phase.DECODE:
        raise InputError("run_generation needs a request with phase 'decode'")
    prepared = prepare(request)
    return evaluate_generation(prepared, request.generate, request.system, request.scheme, request.lar, use_cache, progress, jobs)


@dataclass(frozen=True)
class GenerationCase:
    """A generation workload of the chip's journal extension, with the conditions it does not publish."""

    name: str
    case: Case  # model, prompt length, weight sparsity and span (as the published prefill cases)
    generate: int
    batch: int
    system: SystemOptions
    variables: tuple[tuple[str, object], ...]  # per-chip off-chip memory (assumed)
    footnote: str

    def request(self, **fields) -> RunRequest:
        """The case as a decode RunRequest (fields such as arch, batch or variables may be given)."""
        variables = {**dict(self.variables), **fields.pop("variables", {})}
        fields = {"batch": self.batch, "system": self.system, "generate": self.generate, **fields}
        return self.case.request(phase=Phase.DECODE, variables=variables, **fields)


# Per-chip off-chip memory of the four-chip system: not published. Assumed: each chip with one LPDDR4-3200
# x64 channel (3200 MT/s x 64 bit = 25.6 GB/s, JEDEC JESD209-4) and the LPDDR4 access energy of
# hwcomponents' DRAM model (8 pJ/bit, hwcomponents_cacti LPDDR4), no FPGA bridge as on the test board.
LPDDR4_PER_CHIP = (("offchip_gbps", 204.8), ("offchip_pj_per_bit", 8.0))

GENERATION_CASES: dict[str, GenerationCase] = {
    c.name: c
    for c in (
        GenerationCase(
            "llama2-7b-4chip",
            Case("llama2-7b-4chip", "llama-2-7b", 128, 0.75, 83, "journal extension: four chips, Llama2-7B (likely), decode"),
            generate=128,
            batch=1,
            system=SystemOptions(chips=4, partition=Partition.TENSOR),
            variables=LPDDR4_PER_CHIP,
            footnote="journal extension (JETCAS 2026): four-chip system decoding, 186.9 tokens/s, 0.21 J/token, 4.2x / 27.6x vs A100; "
            "assumed here: Llama-2-7B, 128-token prompt, 128 generated tokens, batch 1, tensor-parallel, 75 % weight sparsity "
            "(hybrid), span 83 (window 41, the GPT-2 case's) with shared-QK attention, one LPDDR4-3200 x64 channel per chip",
        ),
    )
}


def generation_case(name: str) -> GenerationCase:
    if name not in GENERATION_CASES:
        raise InputError(f"unknown generation case {name!r}; known: {', '.join(GENERATION_CASES)}")
    return GENERATION_CASES[name]


@dataclass
class DesignGeneration:
    """One design of a decode comparison: its result, or why it could not run."""

    design: Design
    result: GenerationResult | None = None
    error: str | None = None


def compare_generation(request: RunRequest, designs: list[Design], progress: ProgressFn | None = None, jobs: int | None = None) -> list[DesignGeneration]:
    """The request's generation on every design that can run it: the chip and its ablations (designs on
    the chip's arch: the same off-chip link and KV banks; other arches have no decode model here)."""
    if request.phase is not Phase.DECODE:
        raise InputError("a decode comparison needs a request with phase 'decode'")
    base = prepare(request.with_changes(arch=CHIP))
    outcomes = []
    for design in designs:
        if design.arch != CHIP:
            outcomes.append(DesignGeneration(design, error="decode is modelled for the chip's arch and its ablations only"))
            continue
        prepared = replace(
            base,
            variables={**base.variables, **dict(design.variables)},
            sparsity=base.sparsity if design.use_sparsity else None,
            spans=base.spans if design.use_spans else None,
        )
        try:
            result = evaluate_generation(prepared, request.generate, request.system, design.scheme, LarOptions(), progress=progress, jobs=jobs)
            outcomes.append(DesignGeneration(design, result))
        except SparsecimError as exc:
            outcomes.append(DesignGeneration(design, error=one_line(exc)))
    return outcomes

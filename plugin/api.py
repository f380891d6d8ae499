"""The Python API: what `sparsecim run` does, as functions.

A run is: resolve the model's shape -> build its dense Einsums -> (optionally) rewrite the weight
matmuls from a sparsity profile and the attention from a span profile -> map each distinct Einsum
on the arch -> aggregate.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from sparsecim.attention.profile import SpanProfile
from sparsecim.errors import SparsecimInputError
from sparsecim.model.runner import ModelResult, ProgressFn, run_workload
from sparsecim.sparsity.profile import SparsityProfile
from sparsecim.sparsity.sources import build_profile, rules_for
from sparsecim.specs import find_arch, spec_values, spec_variables
from sparsecim.workloads.attention_rewrite import LarOptions, rewrite_attention
from sparsecim.workloads.checkpoint import shape_from_checkpoint
from sparsecim.workloads.einsums import ModelWorkload, build_workload
from sparsecim.workloads.shapes import TransformerShape, preset
from sparsecim.workloads.sparsity_rewrite import SCHEME_VARIABLES, SCHEMES, MatrixRewrite, rewrite_sparse


def resolve_model(model: str | TransformerShape | None, weights: str | Path | None, heads: int | None = None) -> TransformerShape:
    """A preset by name (or a TransformerShape as is), or the shape read from a checkpoint (which wins)."""
    if isinstance(model, TransformerShape):
        return model
    if weights is not None:
        return shape_from_checkpoint(weights, n_heads=heads, name=model)
    if model is None:
        raise SparsecimInputError("give --model NAME or --weights FILE")
    return preset(model)


@dataclass
class SparsityOptions:
    """Where the weight sparsity comes from (at most one of prune / masks / profile / density)."""

    prune: str | None = None  # e.g. "magnitude:0.75" (needs weights, or falls back to statistical)
    masks: str | Path | None = None
    profile: str | Path | None = None
    density: float | None = None

    @property
    def given(self) -> bool:
        return any(v is not None for v in (self.prune, self.masks, self.profile, self.density))


@dataclass
class RunRequest:
    """Everything one evaluation needs; `run_request` turns it into a ModelResult."""

    model: str | TransformerShape | None = "bert-base"
    arch: str = "isscc23_16_2"
    seq_len: int = 128
    batch: int = 1
    weights: str | Path | None = None
    heads: int | None = None
    variables: dict = field(default_factory=dict)
    sparsity: SparsityOptions = field(default_factory=SparsityOptions)
    scheme: str = "chip"  # weight storage: chip / dense / block / ideal
    spans: str | Path | SpanProfile | None = None
    lar: LarOptions = field(default_factory=LarOptions)


@dataclass
class Prepared:
    """A resolved request: arch file, shape, dense workload and profiles (shared by baseline runs)."""

    arch_name: str
    arch_path: Path
    variables: dict
    shape: TransformerShape
    workload: ModelWorkload
    sparsity: SparsityProfile | None
    spans: SpanProfile | None


def measure_default_spans(shape: TransformerShape, weights: str | Path | None, seq_len: int, mass: float = 0.9) -> SpanProfile:
    """Spans measured on the model's own attention maps over the text shipped with sparsecim."""
    from sparsecim.attention.measure import measure_spans
    from sparsecim.workloads.checkpoint import bundled_checkpoint

    if shape.causal:
        raise SparsecimInputError("--spans measure supports BERT-style encoders; give a span profile YAML for decoders")
    model_file = weights if weights is not None else bundled_checkpoint(shape.name)
    return measure_spans(str(model_file), None, seq_len=seq_len, mass=mass)


def prepare(request: RunRequest) -> Prepared:
    """Validate and resolve everything that does not need the mapper."""
    arch_name, arch_path = find_arch(request.arch)
    variables = {k: v for k, v in dict(request.variables).items()}
    known = spec_variables(arch_path)
    unknown = [k for k in variables if known and k not in known]
    if unknown:
        raise SparsecimInputError(f"unknown spec variable {unknown[0]!r} for {arch_name}; known: {', '.join(known)}")
    if request.scheme not in SCHEMES:
        raise SparsecimInputError(f"unknown storage scheme {request.scheme!r}; use one of {', '.join(SCHEMES)}")
    shape = resolve_model(request.model, request.weights, request.heads)
    workload = build_workload(shape, request.seq_len, request.batch)
    rules = rules_for(spec_values(arch_path, variables))
    s = request.sparsity
    sparsity = build_profile(shape, rules, request.weights, s.prune, s.masks, s.profile, s.density)
    spans = request.spans
    if isinstance(spans, str) and spans == "measure":
        spans = measure_default_spans(shape, request.weights, request.seq_len)
    elif spans is not None and not isinstance(spans, SpanProfile):
        spans = SpanProfile.load(spans)
    return Prepared(arch_name, arch_path, variables, shape, workload, sparsity, spans)


def evaluate(
    prepared: Prepared,
    scheme: str = "chip",
    lar: LarOptions | None = None,
    use_cache: bool = True,
    progress: ProgressFn | None = None,
    jobs: int | None = None,
    extra_variables: dict | None = None,
    skip_unsupported_softmax: bool = False,
) -> ModelResult:
    """Rewrite the prepared workload for one weight-storage scheme / LAR setting and map it."""
    workload = prepared.workload
    rewrites: list[MatrixRewrite] = []
    variables = {**prepared.variables, **(extra_variables or {})}
    if prepared.sparsity is not None:
        workload, rewrites = rewrite_sparse(workload, prepared.sparsity, scheme)
        variables = {**variables, **SCHEME_VARIABLES[scheme]}
    if prepared.spans is not None:
        workload = rewrite_attention(workload, prepared.spans, lar or LarOptions())
    result = run_workload(
        prepared.arch_path,
        workload,
        variables,
        use_cache=use_cache,
        progress=progress,
        arch_name=prepared.arch_name,
        jobs=jobs,
        skip_unsupported_softmax=skip_unsupported_softmax,
    )
    result.extras["scheme"] = scheme if prepared.sparsity is not None else "dense"
    result.extras["matrix_rewrites"] = rewrites
    return result


def run_request(request: RunRequest, use_cache: bool = True, progress: ProgressFn | None = None, jobs: int | None = None) -> ModelResult:
    return evaluate(prepare(request), request.scheme, request.lar, use_cache, progress, jobs)


def run(
    model: str | None = "bert-base",
    arch: str = "isscc23_16_2",
    seq_len: int = 128,
    batch: int = 1,
    weights: str | Path | None = None,
    heads: int | None = None,
    variables: dict | None = None,
    use_cache: bool = True,
    progress: ProgressFn | None = None,
    prune: str | None = None,
    density: float | None = None,
    profile: str | Path | None = None,
    masks: str | Path | None = None,
    spans: str | Path | SpanProfile | None = None,
    scheme: str = "chip",
    lar: LarOptions | None = None,
    jobs: int | None = None,
) -> ModelResult:
    """Map a transformer onto an architecture and return its costs.

    >>> result = run("all-minilm-l6-v2", seq_len=128, density=0.25)   # doctest: +SKIP
    >>> result.summary()["TOPS_per_W_chip"]                          # doctest: +SKIP
    """
    request = RunRequest(
        model=model,
        arch=arch,
        seq_len=seq_len,
        batch=batch,
        weights=weights,
        heads=heads,
        variables=dict(variables or {}),
        sparsity=SparsityOptions(prune, masks, profile, density),
        scheme=scheme,
        spans=spans,
        lar=lar or LarOptions(),
    )
    return run_request(request, use_cache, progress, jobs)

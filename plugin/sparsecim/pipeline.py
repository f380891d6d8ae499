"""One run, top to bottom: request -> shape -> dense Einsums -> sparsity and span profiles ->
rewrite -> map each distinct Einsum -> ModelResult.

    result = run(RunRequest(model="bert-base", sparsity=SparsitySource(density=0.25)))

`prepare` does everything that needs no mapper (and is shared by studies that evaluate one
workload several ways); `evaluate` rewrites and maps one configuration of it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from sparsecim.attention.forward import require_safetensors
from sparsecim.attention.measure import measure_spans
from sparsecim.attention.profile import SpanProfile
from sparsecim.errors import InputError
from sparsecim.mapping.aggregate import map_workload
from sparsecim.mapping import operating
from sparsecim.mapping.arch import find_arch, installed_archs, spec_values, spec_variables
from sparsecim.mapping.result import ModelResult
from sparsecim.mapping.workers import ProgressFn
from sparsecim.request import RunRequest
from sparsecim.rewrite import Rewritten, rewrite
from sparsecim.rewrite.lar import LarOptions
from sparsecim.rewrite.sparse import Scheme
from sparsecim.sparsity.profile import SparsityProfile
from sparsecim.sparsity.sources import build_profile, rules_for
from sparsecim.workload.checkpoint import bundled_checkpoint, shape_from_checkpoint
from sparsecim.workload.decode import Phase
from sparsecim.workload.einsums import ModelWorkload, build_workload
from sparsecim.workload.shapes import TransformerShape, preset

BASELINE_SCHEMES = (Scheme.DENSE, Scheme.BLOCK_SKIP, Scheme.IDEAL)


@dataclass(frozen=True)
class Prepared:
    """A resolved request: arch file, shape, dense workload and profiles (shared by baseline runs)."""

    arch_name: str
    arch_path: Path
    variables: dict
    shape: TransformerShape
    workload: ModelWorkload
    sparsity: SparsityProfile | None
    spans: SpanProfile | None


def resolve_model(model: str | TransformerShape | None, weights: str | Path | None, heads: int | None = None) -> TransformerShape:
    """A preset by name (or a TransformerShape as is), or the shape read from a checkpoint (which wins)."""
    if isinstance(model, TransformerShape):
        return model
    if weights is not None:
        return shape_from_checkpoint(weights, n_heads=heads, name=model)
    if model is None:
        raise InputError("give a model name or a weights file")
    return preset(model)


def measure_default_spans(shape: TransformerShape, weights: str | Path | None, seq_len: int, mass: float = 0.9) -> SpanProfile:
    """Spans measured on the model's own attention maps over the text shipped with sparsecim, with the
    shape's head count (the checkpoint's config.json or the request's `heads`)."""
    if weights is not None:
        require_safetensors(weights)  # before the causal check: every GGUF file reads as a decoder
    if shape.causal:
        raise InputError("measured spans support BERT-style encoders; give a span profile YAML for decoders")
    model_file = weights if weights is not None else bundled_checkpoint(shape.name)
    return measure_spans(str(model_file), None, seq_len=seq_len, mass=mass, n_heads=shape.n_heads)


def check_shipped_value(arch_name: str, name: str, value, default) -> None:
    """A variable of a spec sparsecim ships takes the kind of its default: True/False for a switch, a
    whole number >= 1 for a count, a non-negative number (or the name inf) for a quantity. Never text."""
    quantity = isinstance(default, float)
    if isinstance(value, str) and not (quantity and value == "inf"):
        raise InputError(f"spec variable {name}: {value[:40]!r} is not a number or a boolean ({arch_name} takes no text)")
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise InputError(f"spec variable {name} of {arch_name} is a switch: True or False, got {value!r}")
    elif isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value) or value < 1:
            raise InputError(f"spec variable {name} of {arch_name} is a count: a whole number >= 1, got {value!r}")
    elif quantity and value != "inf" and (isinstance(value, bool) or not value >= 0):
        raise InputError(f"spec variable {name} of {arch_name} is a quantity: a number >= 0 (or inf), got {value!r}")


def prepare(request: RunRequest) -> Prepared:
    """Validate and resolve everything that does not need the mapper."""
    arch_name, arch_path = find_arch(request.arch)
    variables = dict(request.variables)
    known = spec_variables(arch_path)
    unknown = [k for k in variables if known and k not in known]
    if unknown:
        raise InputError(f"unknown spec variable {unknown[0]!r} for {arch_name}; known: {', '.join(known)}")
    if arch_path in installed_archs().values():  # our specs: no user text reaches their template
        defaults = spec_values(arch_path)
        for name, value in variables.items():
            check_shipped_value(arch_name, name, value, defaults.get(name))
    variables = operating.resolve(arch_name, variables)
    shape = resolve_model(request.model, request.weights, request.heads)
    workload = build_workload(shape, request.seq_len, request.batch)
    rules = rules_for(spec_values(arch_path, variables))
    s = request.sparsity
    sparsity = build_profile(shape, rules, request.weights, s.prune, s.masks, s.profile, s.density)
    spans = request.spans
    if spans == "measure":
        spans = measure_default_spans(shape, request.weights, request.seq_len)
    elif spans is not None and not isinstance(spans, SpanProfile):
        spans = SpanProfile.load(spans)
    return Prepared(arch_name, arch_path, variables, shape, workload, sparsity, spans)


def evaluate(
    prepared: Prepared,
    scheme: Scheme = Scheme.CHIP,
    lar: LarOptions | None = None,
    use_cache: bool = True,
    progress: ProgressFn | None = None,
    jobs: int | None = None,
    extra_variables: dict | None = None,
    skip_unsupported_softmax: bool = False,
) -> ModelResult:
    """Rewrite the prepared workload for one weight-storage scheme / LAR setting and map it."""
    rewritten = rewrite(prepared.workload, prepared.sparsity, prepared.spans, scheme, lar)
    variables = mapping_variables(prepared, rewritten, extra_variables)
    return map_workload(
        prepared.arch_path,
        rewritten,
        variables,
        use_cache=use_cache,
        progress=progress,
        arch_name=prepared.arch_name,
        jobs=jobs,
        skip_unsupported_softmax=skip_unsupported_softmax,
    )


def mapping_variables(prepared: Prepared, rewritten: Rewritten, extra_variables: dict | None = None) -> dict:
    """The spec variables a rewritten workload maps with: the request's, extra ones, the scheme's switches."""
    variables = {**prepared.variables, **(extra_variables or {})}
    if rewritten.scheme is not None:
        variables = {**variables, **rewritten.scheme.variables}
    return variables


def run(request: RunRequest, use_cache: bool = True, progress: ProgressFn | None = None, jobs: int | None = None) -> ModelResult:
    """The request's result; with `request.baselines` and a sparsity source, the dense-CIM, block-
    skipping and ideal schemes on the same masks are attached as `result.baselines`."""
    if request.phase is Phase.DECODE:
        raise InputError("a decode request runs through sparsecim.studies.generation.run_generation (CLI: sparsecim run --phase decode)")
    prepared = prepare(request)
    result = evaluate(prepared, request.scheme, request.lar, use_cache, progress, jobs)
    if request.baselines and prepared.sparsity is not None:
        baselines = {request.scheme: result}
        for scheme in BASELINE_SCHEMES:
            if scheme is not request.scheme:
                baselines[scheme] = evaluate(prepared, scheme, request.lar, use_cache, progress, jobs)
        result = replace(result, baselines=baselines)
    return result

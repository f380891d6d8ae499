"""The Python API: what `sparsecim run` does, as one function (see `sparsecim.pipeline` for the stages),
and `save` for its files. An entry point like `sparsecim.cli`: it sits above the pipeline, the studies and
the reports.

    import sparsecim.api as sc
    result = sc.run("bert-base", seq_len=128, density=0.25)
    print(result.summary()["TOPS_per_W_chip"])
    frame = result.to_dataframe()          # one row per Einsum (pandas)
    sc.save(result, "bert.parquet")        # or .json / .csv
"""

from __future__ import annotations

from pathlib import Path

from sparsecim.attention.profile import SpanProfile
from sparsecim.files import check_output_file
from sparsecim.mapping.result import EinsumRow, ModelResult
from sparsecim.mapping.workers import ProgressFn
from sparsecim.pipeline import Prepared, evaluate, prepare, resolve_model
from sparsecim.pipeline import run as run_request
from sparsecim.report.files import RESULT_SUFFIXES, write_result
from sparsecim.request import DEFAULT_ARCH, RunRequest, SparsitySource
from sparsecim.rewrite.lar import LarOptions
from sparsecim.rewrite.sparse import Scheme


def run(
    model: str | None = None,
    arch: str = DEFAULT_ARCH,
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
    scheme: Scheme | str = Scheme.CHIP,
    lar: LarOptions | None = None,
    jobs: int | None = None,
    baselines: bool = False,
) -> ModelResult:
    """Map a transformer onto an architecture and return its costs.

    `model` is a preset name; with `weights` (a checkpoint) the shape comes from the file and the
    result is labelled with the checkpoint's name (its model card title, else the file name) unless
    `model` names it. Without either, BERT-base. Bad input raises `sparsecim.errors.InputError`.

    >>> result = run("all-minilm-l6-v2", seq_len=128, density=0.25)   # doctest: +SKIP
    >>> result.summary()["TOPS_per_W_chip"]                          # doctest: +SKIP
    """
    request = RunRequest.of_options(
        model=model, weights=weights, prune=prune, masks=masks, profile=profile, density=density, arch=arch, seq_len=seq_len,
        batch=batch, heads=heads, variables=dict(variables or {}), scheme=scheme, spans=spans, lar=lar or LarOptions(),
        baselines=baselines,
    )
    return run_request(request, use_cache, progress, jobs)


def save(result: ModelResult, path: str | Path) -> Path:
    """Write a result to `path`: .json (everything), .csv (per-Einsum rows, totals, summary) or .parquet
    (per-Einsum rows with the run's inputs as columns, as `result.to_dataframe()` shows them). The file
    appears whole or not at all; a bad suffix or an unwritable place is an InputError."""
    path = check_output_file(path, RESULT_SUFFIXES, "results file")
    return write_result(result, path)


__all__ = [
    "EinsumRow",
    "LarOptions",
    "ModelResult",
    "Prepared",
    "RunRequest",
    "Scheme",
    "SparsitySource",
    "evaluate",
    "prepare",
    "resolve_model",
    "run",
    "run_request",
    "save",
]

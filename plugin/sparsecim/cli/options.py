"""Options shared by several commands, and the small helpers that turn them into typed values."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from sparsecim.errors import InputError

ModelOpt = Annotated[Optional[str], typer.Option(help="Preset: bert-base, bert-large, vit-b-16, gpt2, llama-2-7b, smollm2-135m, all-minilm-l6-v2")]
WeightsOpt = Annotated[Optional[Path], typer.Option(help="Checkpoint (.safetensors / .gguf): the model's shape and real weights")]
HeadsOpt = Annotated[Optional[int], typer.Option(help="Attention heads, when the checkpoint has no config.json / metadata")]
ArchOpt = Annotated[str, typer.Option(help="Installed arch name or path to an AccelForge arch YAML (as trusted as a script: it is a Jinja template)")]
SeqOpt = Annotated[int, typer.Option("--seq-len", help="Tokens per sequence")]
SetOpt = Annotated[list[str], typer.Option("--set", help="Override a spec variable, name=value (repeatable)")]
PruneOpt = Annotated[Optional[str], typer.Option(help="Prune the weights: magnitude:S, global:S, hybrid:S, nm:N:M, block:S:HxW (S = sparsity)")]
DensityOpt = Annotated[Optional[float], typer.Option(help="Statistical weight density in [0,1] (uniform random masks), no weights needed")]
ProfileOpt = Annotated[Optional[Path], typer.Option(help="Sparsity profile YAML (from `sparsecim profile` or written by hand)")]
MasksOpt = Annotated[Optional[Path], typer.Option(help="Keep-masks .npz keyed by tensor name (with --weights)")]
JobsOpt = Annotated[Optional[int], typer.Option(help="Worker processes for mapping (default: SPARSECIM_JOBS or min(2, CPUs))")]
QuietOpt = Annotated[bool, typer.Option(help="No progress display")]


def parse_sets(items: list[str]) -> dict:
    """`--set name=value` items as a dict (values as given; the arch checks them)."""
    out = {}
    for item in items:
        if "=" not in item:
            raise InputError(f"--set expects name=value, got {item!r}")
        key, value = item.split("=", 1)
        out[key.strip()] = value.strip()
    return out


def run_request(case, model, weights, heads, arch, seq_len, batch, sets, prune, density, profile, masks, spans, baselines=None):
    """The RunRequest of `run`'s options: a published case (which sets model, sparsity and spans), or a
    model with its sparsity and spans. `baselines` None: on, except for a case."""
    from sparsecim.request import RunRequest  # noqa: PLC0415 - cli/: heavy imports at use (start-up time)

    if case is not None:
        from sparsecim.cases import case as published_case  # noqa: PLC0415

        clashing = [flag for flag, value in (("--model", model), ("--prune", prune), ("--density", density), ("--profile", profile),
                                             ("--masks", masks), ("--spans", spans)) if value is not None]
        if clashing:
            raise InputError(f"--case sets the model, sparsity and spans; drop {', '.join(clashing)}")
        return published_case(case).request(weights=weights, heads=heads, arch=arch, batch=batch, variables=parse_sets(sets),
                                            baselines=bool(baselines))
    return RunRequest.of_options(model=model, weights=weights, prune=prune, masks=masks, profile=profile, density=density, arch=arch,
                                 seq_len=seq_len, batch=batch, heads=heads, variables=parse_sets(sets), spans=spans,
                                 baselines=baselines is not False)


def check_jobs(jobs: int | None) -> int | None:
    """`--jobs` as given, checked; None: the default (SPARSECIM_JOBS is checked now, before any work)."""
    from sparsecim.mapping.workers import default_jobs, parse_jobs  # noqa: PLC0415 - cli/: heavy imports at use (start-up time)

    if jobs is None:
        default_jobs()  # a bad SPARSECIM_JOBS is one input-error line here, not a failure inside the mapping
        return None
    return parse_jobs(jobs, "--jobs")


def progress_printer(quiet: bool, what: str = "mapping distinct Einsums"):
    """A progress callback: a bar on a terminal, plain log lines otherwise (pipes, nohup), or None."""
    if quiet:
        return None
    if not sys.stderr.isatty():
        last = {"done": -1}

        def log(done: int, total: int, label: str) -> None:
            if done != last["done"]:
                last["done"] = done
                print(f"sparsecim: {what}: {done}/{total} {label[:60]}", file=sys.stderr, flush=True)

        return log
    from tqdm import tqdm  # noqa: PLC0415

    bar = {"bar": None}

    def update(done: int, total: int, label: str) -> None:
        if bar["bar"] is None:
            bar["bar"] = tqdm(total=total, desc=what, unit="einsum", file=sys.stderr, leave=False)
        bar["bar"].n = done
        bar["bar"].set_postfix_str(label[:60])
        bar["bar"].refresh()
        if done == total:
            bar["bar"].close()
            bar["bar"] = None

    return update

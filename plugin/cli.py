"""`sparsecim` command line. Bad input: one line on stderr and exit code 2."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from sparsecim.errors import SparsecimInputError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    help="Model the ISSCC 2023 16.2 sparse transformer CIM accelerator (and others) in AccelForge.",
)


def _parse_sets(items: list[str]) -> dict:
    out = {}
    for item in items:
        if "=" not in item:
            raise SparsecimInputError(f"--set expects name=value, got {item!r}")
        key, value = item.split("=", 1)
        out[key.strip()] = value.strip()
    return out


def _progress_printer(quiet: bool):
    if quiet:
        return None
    from tqdm import tqdm

    bar = {"bar": None}

    def update(done: int, total: int, label: str) -> None:
        if bar["bar"] is None:
            bar["bar"] = tqdm(total=total, desc="mapping distinct Einsums", unit="einsum", file=sys.stderr, leave=False, disable=None)
        bar["bar"].n = done
        bar["bar"].set_postfix_str(label[:60])
        bar["bar"].refresh()
        if done == total:
            bar["bar"].close()

    return update


@app.command()
def run(
    model: Annotated[Optional[str], typer.Option(help="Preset: bert-base, bert-large, vit-b-16, gpt2, llama-2-7b, smollm2-135m, all-minilm-l6-v2")] = None,
    weights: Annotated[Optional[Path], typer.Option(help="Checkpoint (.safetensors / .gguf) to read the model's shape from")] = None,
    heads: Annotated[Optional[int], typer.Option(help="Attention heads, when the checkpoint has no config.json / metadata")] = None,
    arch: Annotated[str, typer.Option(help="Installed arch name or path to an AccelForge arch YAML")] = "isscc23_16_2",
    seq_len: Annotated[int, typer.Option("--seq-len", help="Tokens per sequence")] = 128,
    batch: Annotated[int, typer.Option(help="Sequences per batch")] = 1,
    set_: Annotated[list[str], typer.Option("--set", help="Override a spec variable, name=value (repeatable)")] = [],
    out: Annotated[Optional[Path], typer.Option(help="Write results to .json or .csv")] = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Re-map even if a cached mapping exists")] = False,
    quiet: Annotated[bool, typer.Option(help="No progress bar")] = False,
) -> None:
    """Map a transformer onto an architecture and print energy, latency, utilisation, TOPS, TOPS/W and area."""
    from sparsecim.api import run as run_api
    from sparsecim.report import print_result, write_result

    if model is None and weights is None:
        model = "bert-base"
    if out is not None and out.suffix.lower() not in (".json", ".csv"):
        raise SparsecimInputError(f"--out must end in .json or .csv, got {out.name!r}")
    result = run_api(
        model=model,
        arch=arch,
        seq_len=seq_len,
        batch=batch,
        weights=weights,
        heads=heads,
        variables=_parse_sets(set_),
        use_cache=not no_cache,
        progress=_progress_printer(quiet),
    )
    print_result(result)
    if out is not None:
        write_result(result, out)
        typer.echo(f"wrote {out}")


@app.command()
def archs() -> None:
    """List the installed architecture specs and their variables."""
    from sparsecim.specs import installed_archs, spec_variables

    for name, path in sorted(installed_archs().items()):
        typer.echo(f"{name}: {path}")
        typer.echo(f"  variables: {', '.join(spec_variables(path))}")


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the app, turning every input error into one line and exit code 2."""
    try:
        app(args=argv, standalone_mode=False)
    except SparsecimInputError as exc:
        print(f"sparsecim: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("sparsecim: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        # Typer bundles its own click: recognise its exceptions by their interface, not by class.
        if hasattr(exc, "format_message"):  # usage errors: bad option, missing value, ...
            print(f"sparsecim: error: {' '.join(exc.format_message().split())}", file=sys.stderr)
            return 2
        if type(exc).__name__ == "Exit":
            return getattr(exc, "exit_code", 0)
        if type(exc).__name__ == "Abort":
            print("sparsecim: aborted", file=sys.stderr)
            return 130
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main())


def console_main() -> None:
    sys.exit(main())

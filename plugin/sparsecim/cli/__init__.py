"""`sparsecim` command line: thin commands (parse -> pipeline or study -> report).

Exit codes: 0 success; 2 bad input (one line `sparsecim: error: ...`); 1 the model could not produce
a result for valid input (one line saying so); 3 a bug in sparsecim (a short message, where to
report it, and the traceback only with --debug); 130 interrupted.
"""

from __future__ import annotations

import os
import sys
import traceback
import warnings

import typer

from sparsecim.cli import analysis, commands, export, sweep
from sparsecim.errors import EXIT_BUG, REPORT_URL, SparsecimError, format_warning, one_line

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    help="Model the ISSCC 2023 16.2 sparse transformer CIM accelerator (and others) in AccelForge.",
)
commands.register(app)
analysis.register(app)
app.command("sweep")(sweep.sweep_command)
export.register(app)


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the app; every failure becomes one line and its exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    argv = [a for a in argv if a != "--debug"]
    # joblib's loky resource tracker (a child process) may warn about semaphores at shutdown.
    os.environ.setdefault("PYTHONWARNINGS", "ignore:resource_tracker:UserWarning")
    warnings.filterwarnings("ignore", message="resource_tracker", category=UserWarning)
    warnings.formatwarning = format_warning
    try:
        code = app(args=argv, standalone_mode=False)
        if isinstance(code, int) and code:
            if code == 130:  # typer caught Ctrl-C
                print("sparsecim: interrupted", file=sys.stderr)
            return code
    except SparsecimError as exc:
        kind = "error" if exc.exit_code == 2 else "model error (not your input)"
        print(f"sparsecim: {kind}: {one_line(exc, 1000)}", file=sys.stderr)
        if debug:
            traceback.print_exc()
        return exc.exit_code
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
            print("sparsecim: interrupted", file=sys.stderr)
            return 130
        print(
            f"sparsecim: internal error ({type(exc).__name__}: {one_line(exc, 200)}); this is a bug in sparsecim, "
            f"please report it at {REPORT_URL}" + ("" if debug else " (rerun with --debug for the traceback)"),
            file=sys.stderr,
        )
        if debug:
            traceback.print_exc()
        return EXIT_BUG
    return 0


def console_main() -> None:
    sys.exit(main())

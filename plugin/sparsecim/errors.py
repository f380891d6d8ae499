"""The error taxonomy: what went wrong decides the exit code and the one line the user reads.

* `InputError` - the user's input is wrong (a file, a YAML key, an option value, a shape): exit 2.
* `ModelError` - the input is fine but the model could not produce a result (AccelForge found no
  mapping, a component model failed): exit 1, and the message says it is not the user's input.
  `MappingError` is the mapper's kind of it; `no_valid_mapping` tells a search that found nothing
  (worth retrying with a wider search) from a crash.
* anything else is a bug in sparsecim: the CLI prints a short message and where to report it
  (the traceback only with ``--debug``), exit 3.
"""

from __future__ import annotations

EXIT_INPUT = 2
EXIT_MODEL = 1
EXIT_BUG = 3
REPORT_URL = "https://github.com/sparsecim/sparsecim/issues"


class SparsecimError(Exception):
    """Base of the errors sparsecim raises on purpose."""

    exit_code = EXIT_MODEL


class InputError(SparsecimError, ValueError):
    """Bad user input (file, YAML, option value, shape): one line, exit code 2."""

    exit_code = EXIT_INPUT


class ModelError(SparsecimError):
    """The model could not produce a result for valid input: one line, exit code 1."""

    exit_code = EXIT_MODEL


class MappingError(ModelError):
    """AccelForge's mapper failed on an Einsum; `no_valid_mapping` when the search found nothing."""

    def __init__(self, message: str, no_valid_mapping: bool = False):
        super().__init__(message)
        self.no_valid_mapping = no_valid_mapping


def one_line(exc: BaseException | str, limit: int = 300) -> str:
    """An exception's text on one line, cut to `limit` characters."""
    text = " ".join(str(exc).split())
    return text[:limit] + ("..." if len(text) > limit else "")


class SparsecimWarning(UserWarning):
    """Something the user should know that does not stop the run (e.g. a bad cache entry recomputed)."""


def format_warning(message, category, filename, lineno, line=None) -> str:
    """warnings.formatwarning for sparsecim's processes: one line, no source location."""
    if issubclass(category, SparsecimWarning):
        return f"sparsecim: warning: {' '.join(str(message).split())}\n"
    return f"{category.__name__}: {' '.join(str(message).split())}\n"

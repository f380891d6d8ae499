"""Errors that the CLI reports as one line with exit code 2."""


class SparsecimInputError(ValueError):
    """Bad user input (file, YAML, option value, shape): reported in one line, exit code 2."""

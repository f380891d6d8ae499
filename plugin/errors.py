"""Errors that the CLI reports as one line with exit code 2."""


class SparsecimInputError(ValueError):
    """Bad user input (file, YAML, option value, shape): reported in one line, exit code 2."""


def publish(temp_path, final_path) -> None:
    """Atomically move a finished temporary file into place with the user's default permissions
    (mkstemp creates files readable by the owner only)."""
    import os

    umask = os.umask(0)
    os.umask(umask)
    os.chmod(temp_path, 0o666 & ~umask)
    os.replace(temp_path, final_path)

"""Exit 0 if the CACTI and NeuroSIM executables behind hwcomponents run on this machine."""

import contextlib
import io
import sys

import hwcomponents as hwc

try:
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        hwc.get_area("SRAM", {"tech_node": 28e-9, "width": 64, "depth": 512, "size": 64 * 512})
        hwc.get_area("AdderTree", {"tech_node": 28e-9, "cycle_period": 1e-8, "n_bits": 8, "n_adder_tree_inputs": 16})
except Exception as exc:  # hwcomponents raises a chain of model errors
    print(f"check: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}", file=sys.stderr)
    sys.exit(1)

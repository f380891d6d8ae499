"""Design-space sweeps: many `sparsecim run` evaluations from one YAML, resumable, local or on Dask.

    from sparsecim.studies.sweep import load_sweep, run_sweep
    outcome = run_sweep(load_sweep("examples/sweep_bert.yaml"), workers=2)

See docs/sweeps.md.
"""

from sparsecim.studies.sweep.execute import PointTask, SweepOutcome, evaluate_point, run_sweep
from sparsecim.studies.sweep.results import assemble_table, pareto_mask, read_points
from sparsecim.studies.sweep.spec import ParetoSpec, Range, SweepPoint, SweepSpec, expand_points, load_sweep, parse_sweep

__all__ = [
    "ParetoSpec",
    "PointTask",
    "Range",
    "SweepOutcome",
    "SweepPoint",
    "SweepSpec",
    "assemble_table",
    "evaluate_point",
    "expand_points",
    "load_sweep",
    "pareto_mask",
    "parse_sweep",
    "read_points",
    "run_sweep",
]

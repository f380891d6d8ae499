"""examples/chip_on_bert.ipynb runs from a temporary copy, without an error, and produces its tables and
plots (so the worked example cannot rot). The kernel shares the session's mapping cache
(SPARSECIM_CACHE_DIR, set in conftest.py, reaches the kernel through the environment)."""

import shutil
from pathlib import Path

import nbformat
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parents[1] / "examples" / "chip_on_bert.ipynb"
CELL_TIMEOUT_S = 1200  # a cold cache on a shared 2-core machine; about a minute when it is idle


def test_chip_on_bert_notebook_runs(tmp_path):
    copy = tmp_path / NOTEBOOK.name
    shutil.copy(NOTEBOOK, copy)
    notebook = nbformat.read(copy, as_version=4)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    for cell in code:  # what is checked below must come from this run, not from the stored copy
        cell.outputs, cell.execution_count = [], None
    NotebookClient(notebook, timeout=CELL_TIMEOUT_S, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()

    assert all(cell.execution_count is not None for cell in code)
    outputs = [output for cell in code for output in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert sum("image/png" in o.get("data", {}) for o in outputs) == 3  # energy per component, sparsity curve, compare
    assert sum("text/html" in o.get("data", {}) for o in outputs) >= 4  # summary, rows, curve, compare tables
    printed = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "footnote (1)" in printed and "rows x columns in bert_glue.parquet" in printed
    assert sorted(p.name for p in tmp_path.iterdir()) == [NOTEBOOK.name]  # the notebook leaves no files behind

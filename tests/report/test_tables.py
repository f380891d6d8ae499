"""The run's terminal output: the default view fits 80 columns, sums add up, views and mapping text."""

import io

import pytest
from rich.cells import cell_len
from rich.console import Console

from sparsecim.mapping.arch import ArchRoles
from sparsecim.mapping.result import EinsumRow, LayerTotal, ModelResult
from sparsecim.report import tables
from sparsecim.workload.einsums import Kind

MATMUL = "Y[b, m, n] = X[b, m, k] * W[n, k]"


def _row(kind, layers, energy, latency, slowest, tag="", mapping="OffChip [W, X, Y]\n  for m in [0..4) shape=32"):
    parts = {"WeightArray": 0.2 * latency, "BflyMac": 0.5 * latency, "OffChip": 0.3 * latency}
    parts[slowest] = latency
    return EinsumRow(kind=kind, tag=tag, form=MATMUL if kind is not Kind.SOFTMAX else "softmax", ranks={}, instances=len(layers),
                     operations=1000 * len(layers), energy_j={"OffChip": energy / 2, "BflyMac": energy / 4, "WeightArray": energy / 4},
                     latency_s=latency, utilisation=0.5, mapping=mapping, layers=tuple(layers), component_latency_s=parts,
                     leak_energy_j={"BflyMac": energy / 8})


@pytest.fixture
def result():
    roles = ArchRoles(offchip=frozenset({"OffChip"}), classes={"BflyMac": "sparsecim_cim_mac"}, computes=frozenset({"BflyMac"}))
    rows = [
        _row(Kind.FFN_DOWN, [1], 4.0, 0.4, "OffChip"),
        _row(Kind.Q_PROJ, [1], 1.0, 0.1, "BflyMac"),
        _row(Kind.SOFTMAX, [0, 1], 0.5, 0.05, "WeightArray", mapping="ActivationMemory [S, T]"),
        _row(Kind.Q_PROJ, [0], 1.0, 0.1, "BflyMac"),
        _row(Kind.FFN_DOWN, [0], 4.0, 0.4, "OffChip", tag="a-very-long-tag-name-that-goes-on"),
    ]
    layers = [LayerTotal(r.layers[0], r.kind, r.energy_total_j, r.latency_s, r.operations) for r in rows if len(r.layers) == 1]
    return ModelResult(arch="isscc23_16_2", model="a-model-with-a-rather-long-name-for-the-title", seq_len=128, batch=1, rows=rows,
                       area_m2={"BflyMac": 0.5e-6, "WeightArray": 0.3e-6}, roles=roles, layers=layers,
                       variables={"voltage": 0.9, "frequency": 220e6})


def _render(result, **kwargs) -> list[str]:
    buf = io.StringIO()
    tables.print_result(result, Console(file=buf, width=80), **kwargs)
    return buf.getvalue().splitlines()


def test_default_view_fits_80_columns(result):
    lines = _render(result)
    assert max(cell_len(line.rstrip()) for line in lines) <= 80
    text = "\n".join(lines)
    assert "0.9 V, 220 MHz" in text and "Per Einsum kind" in text


def test_kind_rows_sum_to_the_total(result):
    table = tables.kinds_table(result)
    kinds = table.columns[0]._cells
    assert kinds == ["q_proj", "softmax", "ffn_down"]  # layer order of the kinds, each once
    x = [int(c) for c in table.columns[1]._cells]
    assert x == [2, 2, 2]  # instances summed over layers and tags


def test_bound_is_what_sets_the_latency(result):
    by_kind = dict(zip(tables.kinds_table(result).columns[0]._cells, tables.kinds_table(result).columns[-1]._cells))
    assert by_kind == {"q_proj": "compute", "softmax": "on-chip memory", "ffn_down": "off-chip"}


def test_einsum_view_in_layer_order_with_layers(result):
    table = tables.einsum_table(result)
    labels = table.columns[0]._cells
    layers = table.columns[1]._cells
    assert layers == ["0", "0-1", "0", "1", "1"]  # first layer, then the order a layer runs its Einsums
    assert labels[:3] == ["q_proj", "softmax", "ffn_down a-very-long-tag-name-that-goes-on"]
    assert table.columns[-1]._cells[0] == "BflyMac"


def test_layer_view_sums_each_layer(result):
    table = tables.layer_table(result)
    assert table.columns[0]._cells == ["0", "1"]
    assert table.columns[-1]._cells[0] == f"{tables.si(5.0, 'J')} / {tables.si(0.5, 's')}"


def test_top_components_groups_the_rest(result):
    table = tables.top_components_table(result, top=2)
    assert table.columns[0]._cells == ["OffChip (off-chip)", "BflyMac", "other (1)"]
    assert table.columns[2]._cells[0] == "50%"


def test_mapping_text_listed_once_per_nest(result):
    nests = tables.mapping_texts(result)
    assert len(nests) == 2
    assert "for m in [0..4) shape=32" in nests[0][1] or "for m in [0..4) shape=32" in nests[1][1]
    lines = _render(result, show_mapping=True)
    assert sum("mapping of" in line for line in lines) == 2


def test_detail_views(result):
    text = "\n".join(_render(result, views=list(tables.VIEWS)))
    for title in ("Per Einsum (rows in layer order", "Per layer", "Per component"):
        assert title in text


@pytest.mark.parametrize(("layers", "text"), [((), "all"), ((3,), "3"), ((0, 1, 2), "0-2"), ((0, 2, 5), "0,2,5"),
                                              (tuple(range(0, 40, 2)), "20 layers")])
def test_layer_text(layers, text):
    assert tables.layer_text(layers) == text


def test_scheme_tables_show_gains_over_dense(result):
    from dataclasses import replace

    from sparsecim.rewrite.sparse import Scheme

    faster = replace(result, rows=[replace(r, latency_s=r.latency_s / 2) for r in result.rows])
    baselines = {Scheme.DENSE: result, Scheme.CHIP: faster}
    for table in (tables.baselines_summary_table(baselines), tables.baselines_table(baselines)):
        assert table.columns[4]._cells == ["1.00x", "2.00x"]  # latency halved: twice as fast as dense
    assert tables.baselines_table(baselines).columns[-1]._cells == ["-", "-"]  # no weight matrices: no memory figure


def test_scheme_table_in_default_and_detail_views(result):
    from dataclasses import replace

    from sparsecim.rewrite.sparse import Scheme

    with_schemes = replace(result, baselines={Scheme.DENSE: result})
    assert "Same masks, other weight storage" in "\n".join(_render(with_schemes))
    assert "Same masks, four weight-storage schemes" in "\n".join(_render(with_schemes, views=list(tables.VIEWS)))
    assert "Same masks" not in "\n".join(_render(with_schemes, views=["layer"]))

"""Plots and labels a reader can trust (issue 11 section 4), checked on the figure objects (no mapping):
a coinciding curve stays visible and is named, the masks are stated, the span map labels its colour
bar and draws global heads in a colour of their own, the compare plot groups small components and
marks missing values, the validation area legend sits beside the bars, ratios read > 1 = good."""

import numpy as np
from matplotlib.colors import to_rgba

from sparsecim.attention.profile import HeadSpan, SpanProfile
from sparsecim.cli.analysis import lar_gain
from sparsecim.report.plots import compare_figure, span_histogram_figure, sparsity_curve_figure, validation_figures
from sparsecim.rewrite.sparse import Scheme
from sparsecim.studies.figures import FigureCheck
from sparsecim.studies.sparsity_curve import CurvePoint
from sparsecim.studies.validate import ValidationReport


def test_lar_gain_reads_above_one_as_a_saving():
    assert lar_gain(3.0, 2.0) == "1.50x"
    assert lar_gain(0.89, 1.0) == "0.89x (LAR costs)"
    assert lar_gain(1.0, 0.0) == "-"


def _points():
    out = []
    for s in (0.0, 0.5, 0.9):
        for scheme, eff in ((Scheme.CHIP, 2 + 5 * s), (Scheme.DENSE, 2.5), (Scheme.BLOCK_SKIP, 2.5), (Scheme.IDEAL, 2.5 / (1 - s))):
            out.append(CurvePoint(s, scheme, eff, eff / 2, 1e-3, 1e-3, 1.0, 100))
    return out


def test_sparsity_curve_shows_coinciding_lines_and_states_the_masks():
    fig = sparsity_curve_figure(_points(), "t", masks="uniform random masks (no installed weights)")
    ax = fig.axes[0]
    labels = [line.get_label() for line in ax.get_lines()]
    assert any(label.startswith("dense CIM") and "(= block skipping)" in label for label in labels), labels
    dense = next(line for line in ax.get_lines() if line.get_label().startswith("dense CIM"))
    block = next(line for line in ax.get_lines() if line.get_label().startswith("block skipping"))
    assert dense.get_zorder() > block.get_zorder() and dense.get_linestyle() != block.get_linestyle()
    assert to_rgba(dense.get_color()) != to_rgba(block.get_color())
    assert any("masks: uniform random masks" in t.get_text() for t in ax.texts)


def test_span_map_labels_its_colour_bar_and_colours_global_heads():
    layers = [[HeadSpan(None, 0, True), HeadSpan(10, 0)], [HeadSpan(20, 0), HeadSpan(5, 0)]]
    fig = span_histogram_figure(SpanProfile("m", layers, seq_len=64))
    colorbar_ax = fig.axes[-1]
    assert "window" in colorbar_ax.get_ylabel()
    heat = fig.axes[1]
    overlay = heat.images[1].get_array()
    assert not np.ma.is_masked(overlay[0, 0]) and np.ma.is_masked(overlay[0, 1])  # global head drawn, local ones left to the map
    assert to_rgba(heat.images[1].cmap(1.0)) == to_rgba("tab:red")  # not white, which reads as missing data


def _row(name, scope, system, area, comps):
    row = {"design": name, "scope": scope, "tech_nm": 28.0, "error": "", "latency_s": 1e-3, "bottleneck": "compute",
           "runs_softmax": scope == "system", "spans": "", "chip_J_per_token": 1e-6, "system_J_per_token": system,
           "TOPS_per_W_chip": 3.0, "TOPS_per_W_chip_at_28nm": 3.0, "area_mm2": area, "area_mm2_at_28nm": area}
    row.update({f"energy_{c}_J": e for c, e in comps.items()})
    return row


def test_compare_plot_groups_small_components_and_marks_missing_values():
    many = {f"Part{i}": 1e-6 / (i + 1) for i in range(30)}
    rows = [_row("a", "system", 2e-6, 1.0, many), _row("b", "macro", None, None, {"ArrayX": 1e-7})]
    fig = compare_figure(rows, "t")
    legend_texts = [t.get_text() for ax in fig.axes for leg in ([ax.get_legend()] if ax.get_legend() else []) for t in leg.get_texts()]
    component_legend = [t for t in legend_texts if t.startswith("Part") or t.startswith("other") or t == "ArrayX"]
    assert len(component_legend) <= 13 and any(t.startswith("other (") for t in component_legend)  # 12 named at most, + other
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert texts.count("n/a") >= 3  # b's system energy, area raw and scaled
    status = "\n".join(texts)
    assert "all designs ran" not in status and "NO" in status and "macro" in status


def test_validation_area_legend_beside_the_bars_and_black_only_for_published():
    area = {f"C{i}": (i + 1) * 1e-8 for i in range(13)}
    report = ValidationReport(checks=[FigureCheck("spec_table.die_area", 3.93, "mm2", 1.7)], area_m2=area)
    fig = validation_figures(report)["validation_area.png"]
    ax = fig.axes[0]
    legend = ax.get_legend()
    assert legend.get_bbox_to_anchor().x0 >= ax.get_window_extent().x1  # outside the axes, to the right
    labels = [t.get_text() for t in legend.get_texts()]
    assert any(label.startswith("other, 5 components") for label in labels)
    black = [p for p in ax.patches if to_rgba(p.get_facecolor()) == to_rgba("black")]
    assert len(black) == 1 and abs(black[0].get_height() - 3.93) < 1e-9

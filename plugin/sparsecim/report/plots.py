"""Figures of the studies, as matplotlib `Figure` objects (no pyplot, no backend switching: the
caller's matplotlib setup is left alone). Files are written by the caller through `OutputBatch`."""

from __future__ import annotations

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure

from sparsecim.attention.profile import SpanProfile
from sparsecim.rewrite.sparse import Scheme
from sparsecim.studies.sparsity_curve import CurvePoint
from sparsecim.studies.sweep.spec import ParetoSpec
from sparsecim.studies.validate import PERIPHERY_FRACTION, ValidationReport


def sparsity_curve_figure(points: list[CurvePoint], title: str) -> Figure:
    """TOPS/W (chip) vs weight sparsity, one line per scheme."""
    fig = Figure(figsize=(7, 4.5))
    ax = fig.subplots()
    for scheme in dict.fromkeys(p.scheme for p in points):
        xs = [100 * p.sparsity for p in points if p.scheme == scheme]
        ys = [p.tops_per_w_chip for p in points if p.scheme == scheme]
        ax.plot(xs, ys, marker="o", label=Scheme(scheme).label)
    ax.set_xlabel("weight sparsity (%)")
    ax.set_ylabel("energy efficiency, chip (dense-equivalent TOPS/W)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return fig


def span_histogram_figure(profile: SpanProfile) -> Figure:
    """Histogram of measured windows (local heads) with the global heads as a separate bar."""
    L = profile.seq_len or max((h.window or 0 for layer in profile.layers for h in layer), default=1) + 1
    local = [h.window for layer in profile.layers for h in layer if not h.is_global]
    n_global = sum(h.is_global for layer in profile.layers for h in layer)
    fig = Figure(figsize=(10, 4))
    ax, ax2 = fig.subplots(1, 2, gridspec_kw={"width_ratios": [3, 2]})
    bins = np.arange(0, L + 8, 8)
    ax.hist(local, bins=bins, color="tab:blue", edgecolor="white", label=f"local heads ({len(local)})")
    ax.bar([L + 4], [n_global], width=8, color="tab:red", label=f"global heads ({n_global})")
    ax.set_xlabel(f"window w (|i-j| <= w), global at the right; L = {L}")
    ax.set_ylabel("heads")
    ax.set_title(f"{profile.model}: per-head spans at mass {profile.mass}")
    ax.legend()
    grid = np.array([[np.nan if h.is_global else h.window for h in layer] for layer in profile.layers], dtype=float)
    im = ax2.imshow(grid, cmap="viridis", aspect="auto", vmin=0, vmax=L)
    ax2.set_xlabel("head")
    ax2.set_ylabel("layer")
    ax2.set_title("window per head (white: global)")
    fig.colorbar(im, ax=ax2)
    fig.tight_layout()
    return fig


def compare_figure(rows: list[dict], title: str) -> Figure:
    """Four panels (energy per token, TOPS/W, latency, area; raw and 28 nm-scaled where known) and a
    stacked energy breakdown by component."""
    ok = [r for r in rows if "energy_system_J" in r]
    names = [r["design"] for r in ok]
    x = np.arange(len(ok))
    fig = Figure(figsize=(18, 9))
    axes = fig.subplots(2, 3)
    panels = [
        ("energy per token (J, system)", "energy_per_token_J", None),
        ("TOPS/W (chip, dense-equivalent)", "TOPS_per_W_chip", "TOPS_per_W_chip_at_28nm"),
        ("latency (s)", "latency_s", None),
        ("area (mm2, modelled)", "area_mm2", "area_mm2_at_28nm"),
    ]
    for ax, (label, key, scaled) in zip(axes.flat, panels):
        raw = [r.get(key) or 0 for r in ok]
        ax.bar(x - (0.2 if scaled else 0), raw, width=0.4 if scaled else 0.6, label="raw")
        if scaled:
            ax.bar(x + 0.2, [r.get(scaled) or 0 for r in ok], width=0.4, label="scaled to 28 nm")
            ax.legend(fontsize=8)
        ax.set_title(label)
        ax.set_yscale("log")
        ax.set_xticks(x, names, rotation=60, ha="right", fontsize=7)
    totals = ("energy_system_J", "energy_chip_J", "energy_per_token_J", "energy_chip_J_at_28nm")
    comps = sorted({k[len("energy_") : -2] for r in ok for k in r if k.startswith("energy_") and k.endswith("_J") and k not in totals})
    ax = axes.flat[4]
    bottom = np.zeros(len(ok))
    for comp in comps:
        values = np.array([r.get(f"energy_{comp}_J", 0.0) / r["energy_system_J"] if r["energy_system_J"] else 0 for r in ok])
        if values.max() < 0.01:
            continue
        ax.bar(x, values, bottom=bottom, label=comp)
        bottom += values
    ax.set_title("energy breakdown (share of system energy)")
    ax.set_xticks(x, names, rotation=60, ha="right", fontsize=7)
    ax.legend(fontsize=6, ncol=2)
    axes.flat[5].axis("off")
    failed = [f"{r['design']}: {r['error'][:80]}" for r in rows if r.get("error")]
    axes.flat[5].text(0, 1, "not run:\n" + "\n".join(failed) if failed else "all designs ran", va="top", fontsize=7, wrap=True)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def validation_figures(report: ValidationReport) -> dict[str, Figure]:
    """The power-curve and area figures of the validation report, by file name."""
    by_key = {c.key: c for c in report.checks}
    fig = Figure(figsize=(7.5, 4.2))
    ax = fig.subplots()
    fit = report.power_fit
    if fit is not None:
        mhz = [p[0] for p in fit.points]
        ax.plot(mhz, [p[2] for p in fit.points], "o", color="black", label="measured chip power (curve)")
        ax.plot(mhz, [p[3] for p in fit.points], "-", color="tab:red", label="modelled (2 fitted factors)")
    ax.set_xlabel("frequency (MHz), voltage from the measured curve")
    ax.set_ylabel("chip power (mW)")
    right = ax.twinx()
    if report.efficiency_curve:
        right.plot([p[0] for p in report.efficiency_curve], [p[2] for p in report.efficiency_curve], "--", color="tab:blue",
                   label="modelled TOPS/W, GPT-2 case (right axis)")
        right.set_ylabel("TOPS/W (dense-equivalent, chip)", color="tab:blue")
    lines = ax.get_legend_handles_labels()
    more = right.get_legend_handles_labels()
    ax.legend(lines[0] + more[0], lines[1] + more[1], fontsize=7, loc="upper left")
    ax.grid(alpha=0.3)
    fig.tight_layout()

    area = Figure(figsize=(7.5, 4.2))
    ax = area.subplots()
    items = sorted(report.area_m2.items(), key=lambda kv: -kv[1])
    colors = _component_colors([name for name, _ in items])
    modelled = sum(v for _, v in items) * 1e6
    bottom = 0.0
    for name, value in items:
        ax.bar(["modelled"], [value * 1e6], bottom=bottom, label=name, color=colors[name])
        bottom += value * 1e6
    ax.bar(["modelled"], [modelled * PERIPHERY_FRACTION / (1 - PERIPHERY_FRACTION)], bottom=bottom, label="periphery (assumed)",
           color="white", edgecolor="gray", hatch="//")
    die = by_key.get("spec_table.die_area")
    if die:
        ax.bar(["published die"], [die.published], color="black")
    ax.set_ylabel("mm2")
    ax.legend(fontsize=7, bbox_to_anchor=(1.02, 1), loc="upper left")
    area.tight_layout()
    return {"validation_power_curve.png": fig, "validation_area.png": area}


def _component_colors(names: list[str]) -> dict:
    """A distinct colour per component (tab20, then tab20b), never black (kept for published values)."""
    palette = list(colormaps["tab20"].colors) + list(colormaps["tab20b"].colors)
    return {name: palette[i % len(palette)] for i, name in enumerate(names)}


def pareto_figure(df, pareto: ParetoSpec, title: str, color_by: str | None = None) -> Figure:
    """Scatter of the two metrics (every finished point), the front as a line."""
    ok = df[(df["status"] == "ok")] if "status" in df else df
    fig = Figure(figsize=(7, 5))
    ax = fig.subplots()
    if len(ok) and pareto.x in ok and pareto.y in ok:
        colors = None
        if color_by and color_by in ok and np.issubdtype(ok[color_by].dtype, np.number):
            colors = ok[color_by].to_numpy(float)
        sc = ax.scatter(ok[pareto.x], ok[pareto.y], c=colors if colors is not None else "0.6", s=18, alpha=0.8, label="points")
        if colors is not None:
            fig.colorbar(sc, ax=ax, label=color_by)
        front = ok[ok["pareto"]].sort_values(pareto.x)
        ax.plot(front[pareto.x], front[pareto.y], "-o", color="C3", ms=5, lw=1.5, label=f"Pareto front ({len(front)})")
        ax.legend()
    ax.set_xlabel(f"{pareto.x} ({pareto.x_goal})")
    ax.set_ylabel(f"{pareto.y} ({pareto.y_goal})")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig

"""Figures of the studies, as matplotlib `Figure` objects (no pyplot, no backend switching: the
caller's matplotlib setup is left alone). Files are written by the caller through `OutputBatch`."""

from __future__ import annotations

import textwrap

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure

from sparsecim.attention.profile import SpanProfile
from sparsecim.rewrite.sparse import Scheme
from sparsecim.studies.sparsity_curve import CurvePoint
from sparsecim.studies.sweep.spec import ParetoSpec
from sparsecim.studies.validate import PERIPHERY_FRACTION, ValidationReport


SCHEME_STYLE = {  # distinct colour, line and marker per scheme: a line hidden under another still shows
    Scheme.CHIP: dict(color="tab:red", linestyle="-", marker="o", zorder=4),
    Scheme.DENSE: dict(color="black", linestyle="--", marker="s", markerfacecolor="none", zorder=5),
    Scheme.BLOCK_SKIP: dict(color="tab:blue", linestyle="-", marker="^", zorder=3, linewidth=3, alpha=0.6),
    Scheme.IDEAL: dict(color="tab:green", linestyle=":", marker="D", zorder=2),
}


def sparsity_curve_figure(points: list[CurvePoint], title: str, masks: str = "") -> Figure:
    """TOPS/W (chip) vs weight sparsity, one line per scheme (each drawn so that none hides another;
    where two coincide, the legend says so). `masks` says where the masks come from."""
    fig = Figure(figsize=(7.5, 4.8))
    ax = fig.subplots()
    schemes = list(dict.fromkeys(p.scheme for p in points))
    curves = {sc: [p for p in points if p.scheme == sc] for sc in schemes}
    for scheme in schemes:
        xs = [100 * p.sparsity for p in curves[scheme]]
        ys = [p.tops_per_w_chip for p in curves[scheme]]
        label = Scheme(scheme).label
        same = [Scheme(o).label for o in schemes if o != scheme and _same_curve(curves[scheme], curves[o])]
        if same:
            label += f" (= {', '.join(same)})"
        ax.plot(xs, ys, label=label, **SCHEME_STYLE.get(Scheme(scheme), {}))
    ax.set_xlabel("weight sparsity (%)")
    ax.set_ylabel("energy efficiency, chip (dense-equivalent TOPS/W)")
    ax.set_title(title, fontsize=10)
    if masks:
        ax.text(0.01, 0.99, f"masks: {masks}", transform=ax.transAxes, va="top", ha="left", fontsize=8,
                bbox=dict(facecolor="white", edgecolor="0.7", alpha=0.9))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="center left")
    fig.tight_layout()
    return fig


def _same_curve(a: list[CurvePoint], b: list[CurvePoint], rel: float = 0.005) -> bool:
    return len(a) == len(b) and all(abs(p.tops_per_w_chip - q.tops_per_w_chip) <= rel * max(p.tops_per_w_chip, 1e-30) for p, q in zip(a, b))


def span_histogram_figure(profile: SpanProfile) -> Figure:
    """Histogram of measured windows (local heads) with the global heads as a separate bar, and the
    window of every head of every layer (global heads in red, as in the histogram)."""
    from matplotlib.colors import ListedColormap  # noqa: PLC0415
    from matplotlib.patches import Patch  # noqa: PLC0415

    L = profile.seq_len or max((h.window or 0 for layer in profile.layers for h in layer), default=1) + 1
    local = [h.window for layer in profile.layers for h in layer if not h.is_global]
    n_global = sum(h.is_global for layer in profile.layers for h in layer)
    fig = Figure(figsize=(10.5, 4.2))
    ax, ax2 = fig.subplots(1, 2, gridspec_kw={"width_ratios": [3, 2]})
    step = max(1, round(L / 32))  # about 32 bins whatever the sequence length
    bins = np.arange(0, L + step, step)
    ax.hist(local, bins=bins, color="tab:blue", edgecolor="white", label=f"local heads ({len(local)})")
    ax.bar([L + 2 * step], [n_global], width=2 * step, color="tab:red", label=f"global heads ({n_global})")
    ax.set_xlabel(f"window w (|i-j| <= w), global at the right; L = {L}")
    ax.set_ylabel("heads")
    ax.set_title(f"{profile.model}: per-head spans" + (f" at mass {profile.mass}" if profile.mass else ""), fontsize=10)
    ax.legend(fontsize=8)
    windows = np.array([[np.nan if h.is_global else h.window for h in layer] for layer in profile.layers], dtype=float)
    im = ax2.imshow(windows, cmap="viridis", aspect="auto", vmin=0, vmax=L, interpolation="nearest")
    globals_ = np.array([[1.0 if h.is_global else np.nan for h in layer] for layer in profile.layers])
    ax2.imshow(globals_, cmap=ListedColormap(["tab:red"]), aspect="auto", vmin=0, vmax=1, interpolation="nearest")
    ax2.set_xlabel("head")
    ax2.set_ylabel("layer")
    ax2.set_title("window per head", fontsize=10)
    if n_global:
        ax2.legend([Patch(color="tab:red")], ["global head (every key)"], fontsize=7, loc="upper center",
                   bbox_to_anchor=(0.5, -0.14), frameon=False)
    fig.colorbar(im, ax=ax2, label="window w (tokens)")
    fig.tight_layout()
    return fig


BOUND_COLORS = {"compute": "tab:green", "on-chip bandwidth": "tab:orange", "off-chip bandwidth": "tab:purple"}
_TOTAL_COLUMNS = ("energy_system_J", "energy_chip_J", "energy_chip_J_at_28nm")


def _value_axis(ax, values: list[float], bars: int = 1) -> None:
    """Log scale only when the values span more than a decade (bars carry their values either way);
    head room above the tallest bar for its label (rotated, longer, when there are many bars)."""
    finite = [v for v in values if v]
    rotated = bars > 6
    if finite and max(finite) / min(finite) > 10:
        decades = np.log10(max(finite) / min(finite))
        ax.set_yscale("log")
        ax.set_ylim(min(finite) / 3, max(finite) * 10 ** ((0.3 if rotated else 0.12) * (decades + 1) + 0.2))
    else:
        ax.set_ylim(0, max(finite, default=1) * (1.4 if rotated else 1.18))
    ax.grid(axis="y", alpha=0.3)


def _label_bars(ax, bars, values, fmt) -> None:
    for bar, value in zip(bars, values):
        if value is None:
            continue
        ax.annotate(fmt(value), (bar.get_x() + bar.get_width() / 2, bar.get_height()), xytext=(0, 2), textcoords="offset points",
                    ha="center", va="bottom", fontsize=6.5, rotation=90 if len(values) > 6 else 0)


def _missing(ax, xs, values, text="n/a") -> None:
    """Mark missing values at their bar positions (missing, not 0)."""
    bottom = ax.get_ylim()[0]
    for x, value in zip(xs, values):
        if value is None:
            ax.annotate(text, (x, bottom), xytext=(0, 3), textcoords="offset points", ha="center", va="bottom", fontsize=7, color="0.4",
                        rotation=90)


def _si(value: float, unit: str) -> str:
    for factor, prefix in ((1e-12, "p"), (1e-9, "n"), (1e-6, "u"), (1e-3, "m"), (1, ""), (1e3, "k")):
        if abs(value) < factor * 1000:
            return f"{value / factor:.3g} {prefix}{unit}"
    return f"{value:.3g} {unit}"


def _paired_panel(ax, x, ok, left, right, labels, fmt, title) -> None:
    """Two bars per design (e.g. raw and 28 nm-scaled), values on the bars, missing ones marked."""
    a = [r.get(left) for r in ok]
    b = [r.get(right) for r in ok]
    _value_axis(ax, [v for v in a + b if v is not None], len(ok))
    bars = ax.bar(x - 0.2, [v or 0 for v in a], width=0.4, color="tab:blue", label=labels[0])
    _label_bars(ax, bars, a, fmt)
    bars = ax.bar(x + 0.2, [v or 0 for v in b], width=0.4, color="tab:cyan", label=labels[1])
    _label_bars(ax, bars, b, fmt)
    _missing(ax, x - 0.2, a)
    _missing(ax, x + 0.2, b)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7, loc="upper left")


def compare_figure(rows: list[dict], title: str, top_components: int = 12) -> Figure:
    """Energy per token (chip, and system where off-chip memory is modelled), TOPS/W (raw and 28 nm),
    latency coloured by what bounds it, area (raw and 28 nm; missing marked), the energy breakdown
    (the largest components, the rest as "other", legend beside the bars) and what each design ran."""
    ok = [r for r in rows if r.get("latency_s") is not None]
    names = [r["design"] for r in ok]
    x = np.arange(len(ok))
    fig = Figure(figsize=(20, 10.5))
    grid = fig.add_gridspec(2, 4, height_ratios=[1, 1])
    panels = [fig.add_subplot(grid[0, i]) for i in range(4)]

    _paired_panel(panels[0], x, ok, "chip_J_per_token", "system_J_per_token", ("chip (on-chip)", "system (+ off-chip memory)"),
                  lambda v: _si(v, "J"), "energy per token (J)")
    _paired_panel(panels[1], x, ok, "TOPS_per_W_chip", "TOPS_per_W_chip_at_28nm", ("raw", "scaled to 28 nm"),
                  lambda v: f"{v:.3g}", "TOPS/W (chip energy, dense-equivalent ops)")

    ax = panels[2]
    latency = [r["latency_s"] for r in ok]
    _value_axis(ax, latency, len(ok))
    bars = ax.bar(x, latency, width=0.6, color=[BOUND_COLORS.get(r.get("bottleneck"), "0.6") for r in ok])
    _label_bars(ax, bars, latency, lambda v: _si(v, "s"))
    ax.set_title("latency (s), colour: what bounds it", fontsize=10)
    from matplotlib.patches import Patch  # noqa: PLC0415

    ax.legend([Patch(color=c) for c in BOUND_COLORS.values()], list(BOUND_COLORS), fontsize=7, loc="upper left")

    _paired_panel(panels[3], x, ok, "area_mm2", "area_mm2_at_28nm", ("raw", "scaled to 28 nm"), lambda v: f"{v:.3g}",
                  "area (mm2, modelled components)")
    for ax in panels:
        ax.set_xticks(x, names, rotation=60, ha="right", fontsize=7)

    # Energy breakdown: share of each design's modelled energy; the largest components by name, the rest "other".
    ax = fig.add_subplot(grid[1, 0:2])
    comps = sorted({k[len("energy_"):-2] for r in ok for k in r if k.startswith("energy_") and k.endswith("_J") and k not in _TOTAL_COLUMNS})
    shares = {}
    for comp in comps:
        shares[comp] = np.array([(r.get(f"energy_{comp}_J") or 0.0) / _modelled(r, comps) for r in ok])
    ranked = sorted(comps, key=lambda c: -shares[c].max())
    named = [c for c in ranked[:top_components] if shares[c].max() >= 0.04]
    colors = _component_colors(named)  # distinct (no repeats up to 14), never the grey of "other"
    bottom = np.zeros(len(ok))
    handles = []
    for comp in named:
        handles.append(ax.bar(x, shares[comp], bottom=bottom, color=colors[comp], width=0.7, label=comp))
        bottom += shares[comp]
    other = 1.0 - bottom if len(ok) else bottom
    handles.append(ax.bar(x, other, bottom=bottom, color="0.75", width=0.7, label=f"other ({len(comps) - len(named)} components)"))
    ax.set_ylim(0, 1.0)
    ax.set_ylabel("share of the design's modelled energy")
    ax.set_title("energy breakdown by component (chip and, where modelled, off-chip memory)", fontsize=10)
    ax.set_xticks(x, names, rotation=60, ha="right", fontsize=7)
    legend_ax = fig.add_subplot(grid[1, 2])
    legend_ax.axis("off")
    legend_ax.legend(handles[::-1], [h.get_label() for h in handles][::-1], loc="upper left", fontsize=8, title="component", frameon=False)

    status = fig.add_subplot(grid[1, 3])
    status.axis("off")
    status.text(0, 1, "\n".join(_status_lines(rows)), va="top", ha="left", fontsize=7, family="monospace")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def _modelled(row: dict, comps: list[str]) -> float:
    total = sum(row.get(f"energy_{c}_J") or 0.0 for c in comps)
    return total or 1.0


def _status_lines(rows: list[dict]) -> list[str]:
    """Per design: scope, what it ran, what is missing (honest per design, never "all ran")."""
    lines = ["design               scope   softmax  area  node", ""]
    for r in rows:
        if r.get("latency_s") is None:
            lines.append(f"{r['design'][:20]:<20} not run: {r.get('error', '')[:60]}")
            continue
        lines.append(
            f"{r['design'][:20]:<20} {r.get('scope') or '?':<7} {'ran' if r.get('runs_softmax') else 'NO':<8} "
            f"{'yes' if r.get('area_mm2') is not None else 'n/a':<5} {('%g nm' % r['tech_nm']) if r.get('tech_nm') else '?'}"
        )
    spans = sorted({r["spans"] for r in rows if r.get("spans")})
    lines += ["", "spans (chip designs):"] + [f"  {part}" for s in spans for part in textwrap.wrap(s, 48)]
    lines += ["", "system energy only where off-chip", "memory is modelled (scope system);", "n/a = missing, not zero"]
    return lines


def validation_figures(report: ValidationReport) -> dict[str, Figure]:
    """The power-curve and area figures of the validation report, by file name."""
    by_key = {c.key: c for c in report.checks}
    fig = Figure(figsize=(7.5, 4.6))
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
    ax.legend(lines[0] + more[0], lines[1] + more[1], fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=3,
              frameon=False)  # below the axes: nothing of either curve hidden
    ax.grid(alpha=0.3)
    fig.tight_layout()

    return {"validation_power_curve.png": fig, "validation_area.png": _area_figure(report.area_m2, by_key.get("spec_table.die_area"))}


def _area_figure(area_m2: dict, die, named: int = 8) -> Figure:
    """Modelled die (the largest components by name, the rest as one "other", the assumed periphery
    hatched) beside the published die (black: no component uses black), totals on the bars."""
    fig = Figure(figsize=(8.5, 4.6))
    ax = fig.subplots()
    items = sorted(area_m2.items(), key=lambda kv: -kv[1])
    shown, rest = items[:named], items[named:]
    colors = _component_colors([name for name, _ in shown])
    components = sum(v for _, v in items) * 1e6
    bottom = 0.0
    for name, value in shown:
        ax.bar(["modelled die"], [value * 1e6], bottom=bottom, label=f"{name} ({value * 1e6:.3f})", color=colors[name], width=0.55)
        bottom += value * 1e6
    if rest:
        other = sum(v for _, v in rest) * 1e6
        ax.bar(["modelled die"], [other], bottom=bottom, label=f"other, {len(rest)} components ({other:.3f})", color="0.7", width=0.55)
        bottom += other
    periphery = components * PERIPHERY_FRACTION / (1 - PERIPHERY_FRACTION)
    ax.bar(["modelled die"], [periphery], bottom=bottom, label=f"periphery, assumed {PERIPHERY_FRACTION:.0%} ({periphery:.3f})",
           color="white", edgecolor="0.3", hatch="//", width=0.55)
    top = bottom + periphery
    ax.annotate(f"{top:.2f} mm2\n(components {components:.2f})", ("modelled die", top), xytext=(0, 3), textcoords="offset points",
                ha="center", va="bottom", fontsize=8)
    if die is not None:
        ax.bar(["published die"], [die.published], color="black", width=0.55, label=f"published die ({die.published} mm2)")
        ax.annotate(f"{die.published} mm2", ("published die", die.published), xytext=(0, 3), textcoords="offset points",
                    ha="center", va="bottom", fontsize=8)
        top = max(top, die.published)
    ax.set_ylim(0, top * 1.18)
    ax.set_ylabel("area (mm2)")
    ax.set_title("die area: modelled components + assumed periphery vs published", fontsize=10)
    ax.legend(fontsize=7, bbox_to_anchor=(1.02, 1), loc="upper left", title="mm2", title_fontsize=7)
    fig.tight_layout()
    return fig


def _component_colors(names: list[str]) -> dict:
    """A distinct colour per component: tab10 without its grey (kept for "other"), then the dark
    tab20b hues; never black (published values) or white (the assumed periphery)."""
    palette = [c for i, c in enumerate(colormaps["tab10"].colors) if i != 7] + list(colormaps["tab20b"].colors)[::4]
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

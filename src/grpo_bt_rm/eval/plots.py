"""PNG figures for eval results: reliability diagram, score histograms, and metric-vs-step for a sweep.

    reliability_png(metrics["calibration_bins"], "rel.png")
    sweep_png(rows, "sweep.png")      # rows as produced by grpo_bt_rm.eval.summary.aggregate
"""

from __future__ import annotations

import os

from grpo_bt_rm.plots import pyplot, save_png


def reliability_png(bins: list[dict], path: str | os.PathLike, title: str = "", ece: float | None = None) -> None:
    """Observed frequency of 'side 0 preferred' against mean predicted p per bin, sized by count."""
    plt = pyplot()
    fig, (ax, axn) = plt.subplots(2, 1, figsize=(4.8, 5.6), gridspec_kw={"height_ratios": [3, 1]}, sharex=True)
    ax.plot([0, 1], [0, 1], ls="--", color="grey", lw=1, label="perfect calibration")
    pts = [(b["mean_p"], b["frac_pos"], b["n"]) for b in bins if b["n"]]
    if pts:
        xs, ys, ns = zip(*pts)
        ax.plot(xs, ys, marker="o", color="tab:blue", label="observed")
    ax.set_ylabel("fraction with side 0 preferred")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.legend(loc="upper left", fontsize=8)
    ax.set_title(f"{title} ECE={ece:.3f}" if ece is not None else (title or "reliability"), fontsize=9)
    centers = [(b["lo"] + b["hi"]) / 2 for b in bins]
    axn.bar(centers, [b["n"] for b in bins], width=0.09, color="tab:blue", alpha=0.6)
    axn.set_xlabel("predicted p(side 0 preferred) = sigmoid((z0 - z1) / bt_temp)")
    axn.set_ylabel("pairs")
    save_png(fig, path, tight=True)


def histograms_png(hists: dict[str, dict], path: str | os.PathLike, title: str = "") -> None:
    """One bar chart per named histogram ({"edges": [...], "counts": [...]})."""
    plt = pyplot()
    names = list(hists)
    fig, axes = plt.subplots(len(names), 1, figsize=(5, 1.8 * max(len(names), 1)), squeeze=False)
    for ax, name in zip(axes[:, 0], names):
        h = hists[name]
        edges = h["edges"]
        ax.bar(edges[:-1], h["counts"], width=[b - a for a, b in zip(edges, edges[1:])], align="edge",
               edgecolor="black", lw=0.5)
        ax.set_title(name, fontsize=8)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    save_png(fig, path, tight=True)


def sweep_png(rows: list[dict], path: str | os.PathLike, title: str = "") -> None:
    """acc_all / acc_parsed and logloss_all against training step: mean line with a min-max band over seeds."""
    plt = pyplot()
    fig, (ax_acc, ax_ll) = plt.subplots(1, 2, figsize=(10, 3.8))
    stepped = sorted((r for r in rows if r.get("step") is not None), key=lambda r: r["step"])
    others = [r for r in rows if r.get("step") is None]
    steps = [r["step"] for r in stepped]
    span = (max(steps) - min(steps)) if len(steps) > 1 else 1.0
    x_other = (min(steps) if steps else 0) - 0.12 * span  # checkpoints without a step sit left of the axis data
    for ax, keys in ((ax_acc, ("acc_all", "acc_parsed")), (ax_ll, ("logloss_all",))):
        for key in keys:
            pts = [r for r in stepped if r[f"{key}_mean"] is not None]
            color = None
            if pts:
                line = ax.plot([r["step"] for r in pts], [r[f"{key}_mean"] for r in pts], marker="o",
                               label=f"{key} (mean over seeds)")[0]
                color = line.get_color()
                ax.fill_between([r["step"] for r in pts], [r[f"{key}_min"] for r in pts],
                                [r[f"{key}_max"] for r in pts], alpha=0.2, color=color, label=f"{key} seed min-max")
            for i, r in enumerate(others):
                m = r[f"{key}_mean"]
                if m is None:
                    continue
                x = x_other - 0.04 * span * i
                ax.errorbar([x], [m], yerr=[[m - r[f"{key}_min"]], [r[f"{key}_max"] - m]], fmt="s", capsize=3,
                            color=color)
                ax.annotate(r["ckpt"], (x, m), textcoords="offset points", xytext=(4, 4), fontsize=7)
        ax.set_xlabel("training step")
        ax.legend(fontsize=7)
    ax_acc.set_ylabel("accuracy (ties = 0.5)")
    ax_acc.axhline(0.5, color="grey", lw=0.8, ls=":")
    ax_ll.set_ylabel("BT log-loss")
    # A change of a point or two must not fill the whole axis: at least 0.1 of accuracy and 0.05 of log-loss.
    for ax, least in ((ax_acc, 0.1), (ax_ll, 0.05)):
        lo, hi = ax.get_ylim()
        if hi - lo < least:
            mid = (lo + hi) / 2
            ax.set_ylim(mid - least / 2, mid + least / 2)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    save_png(fig, path, tight=True)

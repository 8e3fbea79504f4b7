"""The one place PNG figures are written: a headless pyplot and an atomic `save_png` shared by every plot writer.

    plt = pyplot(); fig, ax = plt.subplots(); ...; save_png(fig, "out.png")
"""

from __future__ import annotations

import os

from grpo_bt_rm.io import atomic_write


def pyplot():
    """matplotlib.pyplot on the non-interactive Agg backend (imported lazily: matplotlib is slow to import).

    Returns:
        The `matplotlib.pyplot` module.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_png(fig, path: str | os.PathLike, *, dpi: int = 110, tight: bool = False) -> None:
    """Write `fig` as a PNG at `path` atomically (temp file + rename), then close it.

    Args:
        fig: a matplotlib Figure.
        path: destination file (missing parent directories are created).
        dpi: resolution in dots per inch.
        tight: crop the canvas to the drawn content (`bbox_inches="tight"`).

    Raises:
        OSError: the file cannot be written (no partial file is left behind).
    """
    try:
        with atomic_write(path, mode="wb", encoding=None) as f:
            fig.savefig(f, format="png", dpi=dpi, bbox_inches="tight" if tight else None)
    finally:
        pyplot().close(fig)

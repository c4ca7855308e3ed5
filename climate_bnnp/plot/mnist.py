"""Image-grid figures for the MNIST study (numpy in, PNG out; no torch).

Import as ``from climate_bnnp.plot.mnist import image_grid_figure``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from climate_bnnp.plot.figures import save_figure

__all__ = ["image_grid_figure", "masked_context_image"]


def masked_context_image(
    shape: tuple[int, int], flat_index: np.ndarray, values: np.ndarray, fill: float = np.nan
) -> np.ndarray:
    """An ``(H, W)`` image showing only the context pixels (``flat_index`` into ``H W``); others ``fill``."""
    image = np.full(shape[0] * shape[1], fill, dtype=np.float64)
    image[np.asarray(flat_index)] = np.asarray(values).reshape(-1)
    return image.reshape(shape)


def image_grid_figure(
    images: Sequence[Sequence[np.ndarray | None]],
    path: str | Path,
    *,
    row_labels: Sequence[str] | None = None,
    col_labels: Sequence[str] | None = None,
    title: str | None = None,
    vmin: float = 0.0,
    vmax: float = 1.0,
    cell_inches: float = 1.1,
) -> Path:
    """Save a grid of greyscale images (rows × columns of ``(H, W)`` arrays; None leaves a cell blank).

    NaN pixels (unobserved) are drawn in blue so that a context mask is visible. The PNG is written
    atomically; returns its path.
    """
    rows = len(images)
    cols = max(len(r) for r in images)
    fig, axes = plt.subplots(
        rows, cols, figsize=(cell_inches * cols + 0.6, cell_inches * rows + 0.5), squeeze=False
    )
    cmap = plt.get_cmap("gray").with_extremes(bad="tab:blue")
    for i, row in enumerate(images):
        for j in range(cols):
            ax = axes[i, j]
            ax.set_xticks([])
            ax.set_yticks([])
            image = row[j] if j < len(row) else None
            if image is None:
                ax.axis("off")
                continue
            ax.imshow(np.ma.masked_invalid(image), cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
            if i == 0 and col_labels is not None and j < len(col_labels):
                ax.set_title(col_labels[j], fontsize=7)
        if row_labels is not None and i < len(row_labels):
            axes[i, 0].set_ylabel(row_labels[i], fontsize=7)
    if title:
        fig.suptitle(title, fontsize=8)
    fig.tight_layout()
    return save_figure(fig, path, close=True)

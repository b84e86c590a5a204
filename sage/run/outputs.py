"""What a run leaves to look at: metrics.json, history.csv and map.png."""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only: runs happen on machines with no display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.decomposition import PCA  # noqa: E402

from sage.run.files import atomic, write_text_atomically  # noqa: E402


def write_metrics(metrics: Mapping[str, Any], path: str | os.PathLike) -> None:
    write_text_atomically(Path(path), json.dumps(metrics, indent=2) + "\n")


def write_history(history: Sequence[Mapping[str, Any]], path: str | os.PathLike) -> None:
    """One row per epoch; columns are the union over rows, in first-seen order."""
    columns = list(dict.fromkeys(key for row in history for key in row))
    with atomic(Path(path)) as staging, open(staging, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        for row in history:
            writer.writerow({key: round(value, 6) if isinstance(value, float) else value for key, value in row.items()})


def plot_map(
    embedding: np.ndarray,
    losses: np.ndarray,
    hard: np.ndarray,
    synthetic: np.ndarray,
    path: str | os.PathLike,
    title: str,
    colour_label: str = "per-example loss",
) -> None:
    """The projection coloured by per-example ``losses`` (the scores that chose ``hard``), hard
    examples ringed, synthetic points marked (the SAGE paper's Figure 2). Projections wider than
    2-D are shown through their first two principal components."""
    if embedding.shape[1] > 2:
        pca = PCA(n_components=2, random_state=0).fit(embedding)
        embedding, synthetic = pca.transform(embedding), pca.transform(synthetic) if len(synthetic) else synthetic
        title += " (first two principal components)"
    figure, axes = plt.subplots(figsize=(7, 6), dpi=120)
    scatter = axes.scatter(
        embedding[:, 0], embedding[:, 1], c=losses, cmap="viridis", s=6, norm=matplotlib.colors.PowerNorm(0.5)
    )
    axes.scatter(
        embedding[hard, 0], embedding[hard, 1], s=22, facecolors="none", edgecolors="red", linewidths=0.7, label="hard"
    )
    if len(synthetic):
        axes.scatter(synthetic[:, 0], synthetic[:, 1], s=10, marker="x", c="black", linewidths=0.6, label="synthetic")
    figure.colorbar(scatter, ax=axes, label=colour_label)
    axes.legend(loc="upper right", markerscale=1.5)
    axes.set_title(title, fontsize=10)
    axes.set_xticks([])
    axes.set_yticks([])
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)

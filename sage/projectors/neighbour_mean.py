"""Nearest-neighbour weighted means, batched in torch: the fast inverse of any projection.

``NeighbourMean().fit(Z, X).predict(Z_new)`` decodes projected points back to vectors;
``NeighbourMean().fit(X, Z).predict(X_new)`` places new vectors in a projection.
"""

from typing import Self

import numpy as np
import torch

from sage.neighbours import search

# Query points decoded at once: bounds memory at chunk × N distances and chunk × k × b neighbour outputs.
_CHUNK = 1024


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


class NeighbourMean:
    """Map a query to the weighted mean of the outputs of its nearest training inputs.

    Neighbours are found exactly, from chunked distance matrices; weights are inverse
    distances, so a query that lands on a training input maps to that input's output.
    ``refine_steps`` > 0 then runs mean-shift steps in the output space: each step re-weights
    the same neighbours by a Gaussian of their distance to the current estimate, pulling it
    from the blurred mean towards the densest of them. Runs on the GPU when there is one.
    """

    def __init__(self, n_neighbors: int = 10, refine_steps: int = 0, device: str | torch.device | None = None) -> None:
        if n_neighbors < 1:
            raise ValueError(f"n_neighbors must be a positive integer, got {n_neighbors}")
        if refine_steps < 0:
            raise ValueError(f"refine_steps must be >= 0, got {refine_steps}")
        self.n_neighbors = n_neighbors
        self.refine_steps = refine_steps
        self.device = torch.device(device) if device is not None else default_device()

    def fit(self, inputs: np.ndarray, outputs: np.ndarray) -> Self:
        """Remember training ``inputs`` [N, a] and their ``outputs`` [N, b]."""
        if len(inputs) != len(outputs):
            raise ValueError(
                f"inputs have {len(inputs)} rows but outputs have {len(outputs)}; "
                "they must describe the same training points"
            )
        self._inputs = torch.as_tensor(np.asarray(inputs, dtype=np.float32), device=self.device)
        self._outputs = torch.as_tensor(np.asarray(outputs, dtype=np.float32), device=self.device)
        return self

    @torch.no_grad()
    def predict(self, queries: np.ndarray, exclude: np.ndarray | None = None) -> np.ndarray:
        """Outputs [M, b] for the ``queries`` [M, a].

        ``exclude`` [M], optional, names for each query one training row to leave out of its
        neighbours: decoding a training point's own input with ``exclude`` set to its row tells
        how the mean does at a point it has not memorised.
        """
        chunks = torch.as_tensor(np.asarray(queries, dtype=np.float32), device=self.device).split(_CHUNK)
        if exclude is None:
            left_out = [None] * len(chunks)
        else:
            if len(exclude) != len(queries):
                raise ValueError(f"exclude has {len(exclude)} rows but there are {len(queries)} queries; give one training row per query")
            left_out = torch.as_tensor(np.asarray(exclude, dtype=np.int64), device=self.device).split(_CHUNK)
        return torch.cat([self._predict(chunk, rows) for chunk, rows in zip(chunks, left_out)]).cpu().numpy()

    def _predict(self, queries: torch.Tensor, left_out: torch.Tensor | None = None) -> torch.Tensor:
        # The torch backend, on this decoder's device: the one these decodings were pinned with.
        distances, indices = search(self._inputs, self.n_neighbors, queries=queries, leave_out=left_out)
        exact = distances == 0
        # A row with an exact hit takes the hit's output (the mean of duplicates); 1/0 would be inf.
        weights = torch.where(exact.any(1, keepdim=True), exact.float(), 1.0 / distances.clamp_min(1e-12))
        weights = weights / weights.sum(1, keepdim=True)
        neighbours = self._outputs[indices]  # [m, k, b]
        estimate = torch.einsum("mk,mkb->mb", weights, neighbours)
        for _ in range(self.refine_steps):
            spread = (neighbours - estimate[:, None]).square().sum(-1)  # [m, k]
            bandwidth = spread.median(dim=1, keepdim=True).values.clamp_min(1e-12)
            shifted = weights * torch.exp(-spread / bandwidth)
            estimate = torch.einsum("mk,mkb->mb", shifted / shifted.sum(1, keepdim=True), neighbours)
        return estimate

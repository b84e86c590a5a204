"""TensorBoard: a run's numbers as event files, via ``torch.utils.tensorboard``."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sage.callbacks import register
from sage.callbacks.base import Callback, FitStart, numeric_items


@register("tensorboard")
class TensorBoard(Callback):
    """Writes event files under ``<run>/<log_dir>`` (or ``log_dir`` itself when absolute), read by
    ``tensorboard --logdir``: every number of every epoch's row as ``epoch/<column>`` at step =
    epoch, each synthetic set's size, and the final dev metrics and parameter counts as ``final/...``.

    A resumed run purges what the killed one wrote after its last finished epoch, so the curves
    show each epoch once.
    """

    def __init__(self, log_dir: str = "tensorboard") -> None:
        if not log_dir:
            raise ValueError("log_dir must name a folder")
        self.log_dir = log_dir
        self.writer = None
        self.epoch = 0

    def on_fit_start(self, start: FitStart) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise ImportError("the tensorboard callback needs the tensorboard package: pip install tensorboard") from None
        folder = Path(self.log_dir) if Path(self.log_dir).is_absolute() else start.output_dir / self.log_dir
        self.epoch = len(start.history)
        self.writer = SummaryWriter(str(folder), purge_step=self.epoch + 1 if start.resumed else None)
        if not start.resumed:
            self.writer.add_text("spec", f"```yaml\n{_yaml(start.spec.resolved())}\n```", 0)

    def on_synthesis(self, synthetic: Any) -> None:
        self.writer.add_scalar("synthesis/points", len(synthetic.vectors), self.epoch + 1)

    def on_epoch_end(self, row: Mapping[str, Any]) -> None:
        self.epoch = row["epoch"]
        for key, value in numeric_items(row).items():
            self.writer.add_scalar(f"epoch/{key}", value, self.epoch)
        self.writer.flush()  # a killed run keeps every finished epoch

    def on_fit_end(self, metrics: Mapping[str, Any]) -> None:
        final = {f"dev_{name}": value for name, value in metrics["dev"].items()}
        final |= {key: metrics[key] for key in ("dev_agreement", "gradient_steps", "student_parameters")}
        for key, value in final.items():
            self.writer.add_scalar(f"final/{key}", value, self.epoch)
        self.writer.close()


def _yaml(data: Mapping[str, Any]) -> str:
    import yaml

    return yaml.safe_dump(dict(data), sort_keys=False).rstrip()

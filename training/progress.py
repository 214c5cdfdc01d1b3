"""Rich progress bars for training that stay quiet when disabled (other ranks, tests)."""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


class TrainingProgress:
    def __init__(self, enabled: bool, epochs: int, steps: int) -> None:
        self.enabled = enabled
        self.console = Console(stderr=True)
        self._progress = Progress(
            TextColumn("[bold]epoch {task.fields[epoch]}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]:.3f}"),
            TimeElapsedColumn(),
            console=self.console,
            transient=True,
            disable=not enabled,
        )
        self._steps = steps
        self._task = None
        self._epoch = 0

    def __enter__(self) -> TrainingProgress:
        self._progress.__enter__()
        self._task = self._progress.add_task("train", total=self._steps, epoch=0, loss=0.0)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._progress.__exit__(*exc_info)

    def step(self, loss: float) -> None:
        self._progress.update(self._task, advance=1, loss=loss)

    def epoch_done(self, epoch: int, metrics: dict) -> None:
        if self.enabled:
            self.console.print(
                f"epoch {epoch:3d}  loss {metrics.get('loss_emotion', float('nan')):.3f}  "
                f"val UA {metrics['val_ua']:.3f}  WA {metrics['val_wa']:.3f}  "
                f"({metrics['seconds']:.0f} s)"
            )
        self._progress.reset(self._task, total=self._steps, epoch=epoch + 1, loss=0.0)

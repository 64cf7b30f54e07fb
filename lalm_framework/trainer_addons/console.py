"""What a training job shows on the terminal: Rich's progress bar and model summary, trimmed.

- `ConsoleProgressBar`: Lightning's `RichProgressBar` without the logger's `v_num` (a version
  number shown as a metric).
- `ConsoleModelSummary`: Lightning's `RichModelSummary` without the FLOPs column and total when
  nothing was counted (Lightning counts FLOPs only with an `example_input_array`).
- `console_callbacks`: the two above for a Trainer, unless the config turns them off or the user
  lists a progress bar or summary of their own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import pytorch_lightning as pl
from pytorch_lightning.callbacks import ModelSummary, ProgressBar, RichModelSummary, RichProgressBar


class ConsoleProgressBar(RichProgressBar):
    """Rich's progress bar, metrics only (no `v_num`). Example: `Trainer(callbacks=[ConsoleProgressBar()])`."""

    def get_metrics(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule
    ) -> dict[str, int | str | float | dict[str, float]]:
        items = super().get_metrics(trainer, pl_module)
        items.pop("v_num", None)
        return items


class ConsoleModelSummary(RichModelSummary):
    """Rich's model summary; the FLOPs column and total only when FLOPs were counted.

    Example: `Trainer(callbacks=[ConsoleModelSummary(max_depth=1)])`.
    """

    @staticmethod
    def summarize(
        summary_data: list[tuple[str, list[str]]],
        total_parameters: int,
        trainable_parameters: int,
        model_size: float,
        total_training_modes: dict[str, int],
        total_flops: int,
        **summarize_kwargs: Any,
    ) -> None:
        if total_flops:
            RichModelSummary.summarize(
                summary_data,
                total_parameters,
                trainable_parameters,
                model_size,
                total_training_modes,
                total_flops,
                **summarize_kwargs,
            )
            return
        from pytorch_lightning.utilities.model_summary.model_summary import (
            get_formatted_model_size,
            get_human_readable_count,
        )
        from rich import get_console
        from rich.table import Table

        table = Table(header_style=summarize_kwargs.get("header_style", "bold magenta"))
        columns = [(name, values) for name, values in summary_data if name != "FLOPs"]
        for name, _ in columns:
            justify: Literal["right", "left"] = "right" if name.startswith(("Params", "In ", "Out ")) else "left"
            table.add_column(name, justify=justify, style="dim" if name == " " else None)
        for row in zip(*(values for _, values in columns), strict=True):
            table.add_row(*row)
        console = get_console()
        console.print(table)
        frozen = total_parameters - trainable_parameters
        # two short lines: one would wrap mid-phrase at 80 columns
        console.print(
            f"[bold]Params[/]: {get_human_readable_count(trainable_parameters).strip()} trainable, "
            f"{get_human_readable_count(frozen).strip()} frozen, {get_formatted_model_size(model_size)} MB"
        )
        modes = total_training_modes
        console.print(f"[bold]Modules[/]: {modes['train']} in train mode, {modes['eval']} in eval mode")


def console_callbacks(trainer_cfg: Mapping[str, Any], callbacks: Sequence[Any]) -> list[Any]:
    """Our progress bar and model summary for a Trainer of `trainer_cfg` with `callbacks`.

    Example: `callbacks += console_callbacks(cfg.trainer, callbacks)`; none where the config sets
    `enable_progress_bar`/`enable_model_summary: false` or a callback of that kind is listed.
    """
    out: list[Any] = []
    if trainer_cfg.get("enable_progress_bar") is not False and not any(isinstance(c, ProgressBar) for c in callbacks):
        out.append(ConsoleProgressBar())
    if trainer_cfg.get("enable_model_summary") is not False and not any(isinstance(c, ModelSummary) for c in callbacks):
        out.append(ConsoleModelSummary(max_depth=1))
    return out

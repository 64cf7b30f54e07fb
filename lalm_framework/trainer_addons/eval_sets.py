"""Named evaluation sets of a run: which set a loader is, metric names, what each set produced.

The datamodule names its sets (`val_set_names`, `test_set_names`: one loader per name, in that
order; "" is the one unnamed set); without those names, each loader is a set of its own ("" when
there is one). A set's metrics are `<split>/<name>/<metric>`, the unnamed set's
`<split>/<metric>` (today's `val/wer`). Batches carry `tasks` (one task per example, default
all "transcribe"): which metric scores each example (`lalm_framework.scoring`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

SPLIT_LABELS = {"val": "dev", "test": "test"}


def set_names(trainer: Any, split: str) -> list[str]:
    """The names of the `split` ("val"/"test") sets, in loader order."""
    names = getattr(getattr(trainer, "datamodule", None), f"{split}_set_names", None)
    if names:
        return [str(n) for n in names]
    loaders = getattr(trainer, f"{split}_dataloaders", None)
    n = len(loaders) if isinstance(loaders, Sequence) else 1
    return [""] if n <= 1 else [f"set{i}" for i in range(n)]


def metric_key(split: str, name: str, metric: str) -> str:
    """`val/clean/wer` for a named set, `val/wer` for the unnamed one."""
    return f"{split}/{name}/{metric}" if name else f"{split}/{metric}"


def split_metrics(metrics: Mapping[str, float], split: str) -> dict[str, dict[str, float]]:
    """`{set name: {metric: value}}` of the `<split>/...` keys (the unnamed set: name "")."""
    out: dict[str, dict[str, float]] = {}
    for key, value in metrics.items():
        head, _, rest = key.partition("/")
        if head != split or not rest:
            continue
        name, _, metric = rest.rpartition("/")
        out.setdefault(name, {})[metric] = float(value)
    return out


def batch_tasks(batch: Mapping[str, Any]) -> list[str]:
    """Each example's task (a batch without `tasks`: all "transcribe")."""
    tasks = batch.get("tasks")
    return [str(t) for t in tasks] if tasks else ["transcribe"] * len(batch["ids"])


@dataclass
class SetOutputs:
    """What one evaluation set produced in an epoch (on this rank, until `gathered`)."""

    hypotheses: list[str] = field(default_factory=list)
    references: list[str] = field(default_factory=list)
    tasks: list[str] = field(default_factory=list)
    loss_sum: Any = 0.0  # a float, or a tensor on the model's device until read (no sync per step)
    examples: int = 0

    def add_loss(self, loss: Any, n: int) -> None:
        self.loss_sum = self.loss_sum + loss.detach() * n if hasattr(loss, "detach") else self.loss_sum + loss * n
        self.examples += n

    def add_texts(self, hypotheses: Sequence[str], references: Sequence[str], tasks: Sequence[str]) -> None:
        self.hypotheses += hypotheses
        self.references += references
        self.tasks += tasks

    @property
    def loss(self) -> float | None:
        """Mean loss per example (as Lightning's epoch mean weighted by batch size)."""
        return float(self.loss_sum) / self.examples if self.examples else None

    def gathered(self) -> SetOutputs:
        """The outputs of all ranks together (every rank must call this, in the same order)."""
        import torch.distributed as dist

        mine = SetOutputs(self.hypotheses, self.references, self.tasks, float(self.loss_sum), self.examples)
        if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
            return mine
        parts: list[Any] = [None] * dist.get_world_size()
        dist.all_gather_object(parts, mine)
        out = SetOutputs()
        for p in parts:
            out.add_texts(p.hypotheses, p.references, p.tasks)
            out.loss_sum += p.loss_sum
            out.examples += p.examples
        return out

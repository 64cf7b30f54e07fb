"""The typed seam between the speech data layer, the model and the runner (beside `LalmBatch`).

- the model gives the datamodule its `ModelParts` (`HasModelParts.model_parts()`): what batches
  are built with;
- the datamodule gives the model what a checkpoint keeps of it (`HasCheckpointSettings`): how it
  prompted and batched, for `lalm-infer`;
- the runner asks a model whether it decodes text (`Transcriber`) and a datamodule what
  `lalm-infer` can read back of its evaluation data (`HasInferenceInputs`).

Protocols, not base classes: a user's module or datamodule takes part by having the method.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable


@dataclass(frozen=True)
class ModelParts:
    """What the datamodule builds batches with (from the model, or passed to the datamodule)."""

    tokenizer: Any
    feature_extractor: Any


@runtime_checkable
class HasModelParts(Protocol):
    def model_parts(self) -> ModelParts: ...


@runtime_checkable
class HasCheckpointSettings(Protocol):
    def checkpoint_settings(self) -> dict[str, Any]:
        """Plain values a checkpoint keeps (prompt template, prompts, task, eval batch size)."""
        ...


@runtime_checkable
class Transcriber(Protocol):
    def transcribe_batch(self, batch: Any) -> list[str]: ...


@runtime_checkable
class HasInferenceInputs(Protocol):
    def inference_inputs(self) -> list[str] | None:
        """`lalm-infer` arguments for the validation data (`[DIR]`, or `[name=DIR, ...]`); None: none fit."""
        ...

"""Lightning's FSDP strategy, wrapped per layer, saving and loading one full checkpoint file.

What `trainer=fsdp` builds (and `trainer.strategy=fsdp`, which the runner maps here):

- auto-wrap by layer class: every class a transformers part of the model names in its
  `_no_split_modules` (a decoder layer of any `AutoModelForCausalLM`, a Whisper encoder layer) is
  one FSDP unit; whatever is left (embeddings, projector, head) is the root unit;
- `use_orig_params=True` (Lightning's default, kept): frozen and trainable parameters (LoRA, a
  frozen encoder) share a unit, and the optimizer sees the model's own parameters;
- checkpoints are full state dicts, gathered on rank 0 and written by the trainer's checkpoint IO
  (`AtomicCheckpointIO`: atomic, secrets masked). One ordinary `.ckpt` file, so resume, `lalm-export`
  and `lalm-infer` read an FSDP run's checkpoint as any other; a sharded checkpoint is a directory
  of many files, which neither an atomic rename nor the weights-only reader covers;
- loading goes through the same checkpoint IO (weights only, checked against the model) instead of
  Lightning's own unpickler, then into the sharded model with torch's public FSDP state-dict API.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import torch
from pytorch_lightning.strategies import FSDPStrategy
from pytorch_lightning.trainer.states import TrainerFn
from torch import nn


@runtime_checkable
class ChecksCheckpoint(Protocol):
    """A LightningModule that checks a checkpoint fits it before its weights are loaded."""

    def check_checkpoint(self, checkpoint: Mapping[str, Any]) -> None: ...


def layer_classes(model: nn.Module) -> set[type[nn.Module]]:
    """The classes of `model`'s submodules that a transformers part names in `_no_split_modules`.

    >>> from transformers import LlamaConfig, LlamaForCausalLM
    >>> llama = LlamaForCausalLM(LlamaConfig(hidden_size=8, intermediate_size=8, num_hidden_layers=1,
    ...     num_attention_heads=2, num_key_value_heads=2, vocab_size=16))
    >>> sorted(c.__name__ for c in layer_classes(llama))
    ['LlamaDecoderLayer']
    """
    names: set[str] = set()
    for module in model.modules():
        names.update(getattr(module, "_no_split_modules", None) or ())
    return {type(m) for m in model.modules() if type(m).__name__ in names}


def fsdp_mixed_precision(param_dtype: str | None, reduce_dtype: str | None, buffer_dtype: str | None) -> Any:
    """torch's FSDP `MixedPrecision` of dtype names ("bfloat16", "float16", "float32"); None when all unset."""
    if not (param_dtype or reduce_dtype or buffer_dtype):
        return None
    from torch.distributed.fsdp import MixedPrecision

    def dtype(name: str | None) -> torch.dtype | None:
        return getattr(torch, name) if name else None

    return MixedPrecision(
        param_dtype=dtype(param_dtype), reduce_dtype=dtype(reduce_dtype), buffer_dtype=dtype(buffer_dtype)
    )


class LalmFSDPStrategy(FSDPStrategy):
    """`FSDPStrategy` wrapping each transformer layer, with full, safely loaded checkpoints.

    Example (what `trainer=fsdp` builds)::

        Trainer(strategy=LalmFSDPStrategy(sharding_strategy="FULL_SHARD", cpu_offload=False), devices=2)

    `auto_wrap_policy` given explicitly (a set of layer classes or a torch policy) replaces the
    layer classes read from the model. `mixed_precision` takes dtype names (or a torch
    `MixedPrecision`); left null, the trainer's `precision` decides, as in Lightning.
    """

    def __init__(
        self,
        sharding_strategy: str = "FULL_SHARD",
        cpu_offload: bool = False,
        mixed_precision: Mapping[str, str | None] | Any = None,
        auto_wrap_policy: Any = None,
        **kwargs: Any,
    ) -> None:
        if isinstance(mixed_precision, Mapping):
            mixed_precision = fsdp_mixed_precision(**dict(mixed_precision))
        self._wrap_layers = auto_wrap_policy is None
        super().__init__(
            sharding_strategy=sharding_strategy,  # type: ignore[arg-type]  # a name of Lightning's literal
            cpu_offload=cpu_offload,
            mixed_precision=mixed_precision,
            auto_wrap_policy=auto_wrap_policy,
            state_dict_type="full",
            **kwargs,
        )

    def _setup_model(self, model: nn.Module) -> nn.Module:
        # Lightning 2.6: FSDPStrategy wraps the model here, reading the policy from `self.kwargs`
        if self._wrap_layers and "auto_wrap_policy" not in self.kwargs:
            classes = layer_classes(model)
            if classes:
                from torch.distributed.fsdp.wrap import ModuleWrapPolicy

                self.kwargs["auto_wrap_policy"] = ModuleWrapPolicy(classes)
        if self.root_device.type != "cpu":
            wrapped: nn.Module = super()._setup_model(model)
            return wrapped
        # torch 2.13 refuses FSDP on a CPU root unless `device_id` names the CPU, and Lightning
        # passes `device_id=None` there: wrap here, as Lightning does on an accelerator
        if self._activation_checkpointing_kwargs:
            raise ValueError(
                "activation_checkpointing(_policy) of the strategy is not used on CPUs; "
                "set model.encoder.gradient_checkpointing / model.llm.gradient_checkpointing instead"
            )
        from torch.distributed.fsdp import FullyShardedDataParallel

        return FullyShardedDataParallel(
            module=model,
            cpu_offload=self.cpu_offload,
            mixed_precision=self.mixed_precision_config,
            sharding_strategy=self.sharding_strategy,
            device_id=self.root_device,
            **self.kwargs,
        )

    def lightning_module_state_dict(self) -> dict[str, Any]:
        """The full state dict, gathered on rank 0 (empty on the other ranks)."""
        assert self.model is not None
        with self._full_state_dict(rank0_only=True):
            state: dict[str, Any] = self.model.state_dict()
        return state

    def optimizer_state(self, optimizer: Any) -> dict[str, Any]:
        """The full optimizer state on rank 0, keyed by parameter index as a plain optimizer's."""
        from pytorch_lightning.core.optimizer import LightningOptimizer
        from torch.distributed.fsdp import FullyShardedDataParallel as FSDP
        from torch.distributed.fsdp import OptimStateKeyType

        assert self.model is not None
        if isinstance(optimizer, LightningOptimizer):
            optimizer = optimizer.optimizer
        with self._full_state_dict(rank0_only=True):
            state: dict[str, Any] = FSDP.optim_state_dict(self.model, optimizer)
            if self.global_rank == 0:
                state = FSDP.rekey_optim_state_dict(state, OptimStateKeyType.PARAM_ID, self.model)
        return state

    def _full_state_dict(self, rank0_only: bool) -> Any:
        """FSDP's full (unsharded) state-dict mode; tensors copied to host memory from an accelerator.

        Not `offload_to_cpu` on a CPU root: torch 2.13 then frees the gathered weights it returns
        (a segmentation fault on the next read), and they are in host memory already.
        """
        from torch.distributed.fsdp import FullOptimStateDictConfig, FullStateDictConfig, StateDictType
        from torch.distributed.fsdp import FullyShardedDataParallel as FSDP

        assert self.model is not None
        offload = self.root_device.type != "cpu"
        return FSDP.state_dict_type(
            self.model,
            StateDictType.FULL_STATE_DICT,
            FullStateDictConfig(offload_to_cpu=offload, rank0_only=rank0_only),
            FullOptimStateDictConfig(offload_to_cpu=offload, rank0_only=rank0_only),
        )

    def load_checkpoint(self, checkpoint_path: Any, weights_only: bool | None = None) -> dict[str, Any]:
        """Read the full checkpoint file with the checkpoint IO, check it fits, load it into the shards."""
        path = Path(self.broadcast(checkpoint_path))
        checkpoint: dict[str, Any] = self.checkpoint_io.load_checkpoint(path)
        module = self.lightning_module
        assert module is not None and self.model is not None
        if isinstance(module, ChecksCheckpoint):
            module.check_checkpoint(checkpoint)
        from torch.distributed.fsdp import FullyShardedDataParallel as FSDP
        from torch.distributed.fsdp import OptimStateKeyType

        with self._full_state_dict(rank0_only=False):
            self.model.load_state_dict(checkpoint["state_dict"], strict=module.strict_loading)
            states = checkpoint.get("optimizer_states")
            if states and module.trainer.state.fn == TrainerFn.FITTING:
                if len(states) != len(self.optimizers):
                    raise RuntimeError(
                        f"The checkpoint holds {len(states)} optimizer states but the model has "
                        f"{len(self.optimizers)} optimizers; resume with the configuration that wrote it."
                    )
                for optimizer, state in zip(self.optimizers, states, strict=True):
                    if state["state"] and isinstance(next(iter(state["state"])), int):  # saved keyed by index
                        state = FSDP.rekey_optim_state_dict(state, OptimStateKeyType.PARAM_NAME, self.model)
                    optimizer.load_state_dict(
                        FSDP.optim_state_dict_to_load(model=self.model, optim=optimizer, optim_state_dict=state)
                    )
        # the weights are in the model now; their shapes stay for the module's own hook
        checkpoint["state_dict"] = {k: _shape_only(v) for k, v in checkpoint["state_dict"].items()}
        return checkpoint


def _shape_only(value: Any) -> Any:
    return torch.empty(value.shape, dtype=value.dtype, device="meta") if isinstance(value, torch.Tensor) else value

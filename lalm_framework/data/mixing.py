"""Several training sources as one stream of cuts per epoch (`dataset.train` with more than one).

- No weights: each source once per epoch, all together in one shuffled epoch (as one source is).
- Weights (or `mix.temperature`): Lhotse's `CutSet.mux` draws each next cut from source i with
  probability weight_i (each source reshuffled and restarted when it runs out). With a
  temperature T, weight_i is multiplied by hours_i^(1/T) (NeMo's `reweight_temperature`:
  T=1 follows the sizes, large T evens them out). An epoch is then `mix.epoch`: `hours` of audio
  (default: as many hours as the sources hold together) or `steps` batches per rank.

Deterministic per (seed, epoch); every DDP rank draws the same global stream and keeps its own
batches (`sampling.CutBatchSampler`), so a resumed run re-draws the same batches. Each cut is
tagged with its source's index (`SOURCE_KEY` in the cut's custom fields): the task of its source,
and what run.json counts as drawn.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from lalm_framework.data.cuts import SOURCE_KEY
from lalm_framework.errors import UserError

if TYPE_CHECKING:
    from lhotse import CutSet
    from lhotse.cut import Cut

    from lalm_framework.data.sources import SplitCuts

EPOCHS = ("hours", "steps")


@dataclass(frozen=True)
class MixSpec:
    """`dataset.mix`: how weighted sources make an epoch.

    >>> MixSpec(epoch="steps", steps=500, temperature=2.0)  # doctest: +SKIP
    """

    epoch: Literal["hours", "steps"] = "hours"
    hours: float | None = None  # hours of audio per epoch; None: the sources' hours together
    steps: int | None = None  # batches per rank per epoch (epoch: steps)
    temperature: float | None = None  # weight_i *= hours_i ** (1 / temperature)

    @classmethod
    def from_node(cls, node: Any) -> MixSpec:
        """The spec of a `dataset.mix` mapping (None: the defaults); bad values are one UserError."""
        node = dict(node or {})
        unknown = sorted(set(node) - {"epoch", "hours", "steps", "temperature"})
        if unknown:
            raise UserError(
                f"dataset.mix has no option {', '.join(unknown)}; its options: epoch, hours, steps, temperature."
            )
        spec = cls(**node)
        if spec.epoch not in EPOCHS:
            raise UserError(f"dataset.mix.epoch={spec.epoch!r}: use hours or steps.")
        for key, value in (("hours", spec.hours), ("steps", spec.steps), ("temperature", spec.temperature)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0):
                raise UserError(f"dataset.mix.{key}={value!r}: must be a number > 0 (or null).")
        if spec.steps is not None and not isinstance(spec.steps, int):
            raise UserError(f"dataset.mix.steps={spec.steps!r}: a whole number of batches.")
        if spec.epoch == "steps" and spec.steps is None:
            raise UserError("dataset.mix.epoch=steps needs dataset.mix.steps=<batches per epoch>.")
        return spec


def mix_weights(weights: list[float | None], hours: list[float], temperature: float | None) -> list[float] | None:
    """The probability of each source per draw; None when the sources are not weighted."""
    if temperature is None and all(w is None for w in weights):
        return None
    if temperature is None and any(w is None for w in weights):
        missing = [str(i) for i, w in enumerate(weights) if w is None]
        raise UserError(
            f"dataset.train: source(s) {', '.join(missing)} have no weight while others have one.\n"
            "Give every train source a weight, or none (each source once per epoch), or set "
            "dataset.mix.temperature (weights from the sources' sizes)."
        )
    raw = [
        (w if w is not None else 1.0) * (h ** (1.0 / temperature) if temperature else 1.0)
        for w, h in zip(weights, hours, strict=True)
    ]
    total = sum(raw)
    if total <= 0:
        raise UserError("dataset.train: the sources hold no audio to mix.")
    return [r / total for r in raw]


class Tagged:
    """The cuts of `cuts`, each tagged with source index `index` (a copy: shared cuts stay as they are)."""

    def __init__(self, cuts: Iterable[Cut], index: int) -> None:
        self.cuts, self.index = cuts, index

    def __iter__(self) -> Iterator[Cut]:
        for cut in self.cuts:
            yield cut.with_custom(SOURCE_KEY, self.index)


class Endless:
    """One source's cuts over and over, reshuffled for each pass (pass r uses seed + r)."""

    def __init__(self, split: SplitCuts, seed: int, metadata: bool, buffer_size: int) -> None:
        self.split, self.seed, self.metadata, self.buffer_size = split, seed, metadata, buffer_size

    def __iter__(self) -> Iterator[Cut]:
        from lalm_framework.data.sampling import buffer_shuffled

        for r in itertools.count():
            seed = self.seed + 7919 * r
            cuts = self.split.ordered(seed, self.metadata)
            if cuts.is_lazy:  # in-memory splits come fully shuffled from `ordered`
                cuts = buffer_shuffled(cuts, seed, self.buffer_size)
            n = 0
            for cut in cuts:
                n += 1
                yield cut
            if n == 0:
                return


class UntilHours:
    """The first cuts of `cuts` whose durations add up to `seconds` (the last one included)."""

    def __init__(self, cuts: Iterable[Cut], seconds: float) -> None:
        self.cuts, self.seconds = cuts, seconds

    def __iter__(self) -> Iterator[Cut]:
        total = 0.0
        for cut in self.cuts:
            if total >= self.seconds:
                return
            total += cut.duration
            yield cut


class Chain:
    """The cuts of each iterable in turn (lazy)."""

    def __init__(self, parts: list[Iterable[Cut]]) -> None:
        self.parts = parts

    def __iter__(self) -> Iterator[Cut]:
        for part in self.parts:
            yield from part


@dataclass
class MixedCuts:
    """The train sources as one split for `CutBatchSampler` (see the module docstring)."""

    parts: list[SplitCuts]
    hours: list[float]
    weights: list[float] | None  # None: each source once per epoch
    spec: MixSpec
    buffer_size: int

    @property
    def name(self) -> str:
        return "train"

    @property
    def description(self) -> str:
        return " + ".join(p.description for p in self.parts)

    @property
    def size(self) -> int:
        return sum(p.size for p in self.parts)

    @property
    def premixed(self) -> bool:
        """True when the stream is already shuffled (weighted): the sampler shuffles no further."""
        return self.weights is not None

    @property
    def epoch_steps(self) -> int | None:
        return self.spec.steps if self.weights is not None and self.spec.epoch == "steps" else None

    @property
    def meta(self) -> CutSet:
        return self.ordered(None, metadata=True)

    def ordered(self, seed: int | None, metadata: bool) -> CutSet:
        from lhotse import CutSet

        if self.weights is None:
            return CutSet(Chain([Tagged(p.ordered(seed, metadata), i) for i, p in enumerate(self.parts)]))
        base = seed or 0
        streams = [Tagged(Endless(p, base + 1000 * i, metadata, self.buffer_size), i) for i, p in enumerate(self.parts)]
        mixed: Iterable[Cut] = streams[0]
        if len(streams) > 1:
            mixed = CutSet.mux(*[CutSet(s) for s in streams], weights=self.weights, seed=base)
        if self.spec.epoch == "hours":
            hours = self.spec.hours if self.spec.hours is not None else sum(self.hours)
            mixed = UntilHours(mixed, hours * 3600)
        return CutSet(mixed)

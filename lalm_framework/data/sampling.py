"""Batches of cuts from Lhotse's samplers: by duration (bucketed) or by count, rank-aware, resumable.

`CutBatchSampler` wraps one Lhotse sampler per epoch (`DynamicBucketingSampler`, or
`DynamicCutSampler` without bucketing). It lives in the training process, where Lightning sees
it as the DataLoader's sampler:

- rank-aware: each DDP rank draws the same global batch sequence and keeps every world_size-th
  batch (Lhotse's scheme), so ranks get disjoint batches and equal step counts;
- deterministic per (seed, epoch); Lightning's `set_epoch` reaches it;
- `len()` is the exact number of batches of the current epoch (a dry run over metadata), for
  splits small enough to count quickly (`steps.COUNTED_MAX_CUTS`); a larger split has no
  `len()` (Lightning then runs epochs of unknown length) unless `counted=True`;
- `state_dict()` holds the epoch and the batches already trained, so a resumed run skips them
  (Lhotse's own sampler state counts batches the DataLoader prefetched but never trained, so the
  position comes from Lightning's progress instead; the skip re-draws the same batches, as
  Lhotse's `load_state_dict` fast-forward does).
"""

from __future__ import annotations

import functools
import logging
import math
import random
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from itertools import islice
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from torch.utils.data import DistributedSampler

from lalm_framework.data.cuts import DRAW_KEY, OWN_ID_KEY, SOURCE_KEY

if TYPE_CHECKING:
    from lhotse import CutSet
    from lhotse.cut import Cut
    from lhotse.dataset.sampling.base import CutSampler

log = logging.getLogger(__name__)

BINS_ESTIMATE_CUTS = 10000  # cuts read to place the bucket boundaries (Lhotse's default)


class EpochCuts(Protocol):
    """What a sampler reads of a split: one source's `SplitCuts` or the train mix (`MixedCuts`)."""

    @property
    def name(self) -> str: ...
    @property
    def size(self) -> int: ...
    @property
    def meta(self) -> CutSet: ...
    @property
    def premixed(self) -> bool: ...  # already shuffled: no buffer shuffle on top
    @property
    def epoch_steps(self) -> int | None: ...  # batches per epoch of an endless stream

    def ordered(self, seed: int | None, metadata: bool) -> CutSet: ...


def _add_counts(total: dict[int, tuple[int, float]], counts: dict[int, tuple[int, float]]) -> None:
    for i, (n, seconds) in counts.items():
        m, t = total.get(i, (0, 0.0))
        total[i] = (m + n, t + seconds)


def with_own_id(cut: Cut) -> Cut:
    """`cut` tagged with its id (`OWN_ID_KEY`): Lhotse's end-of-data copies for other ranks get
    new ids (`_dup<n>`), so evaluation can leave them out of the metrics."""
    return cut.with_custom(OWN_ID_KEY, cut.id)


def with_draws(batch: CutSet, seed: int, epoch: int, index: int) -> CutSet:
    """`batch` with a random number per cut (`DRAW_KEY`), fixed by (seed, epoch, batch index)."""
    from lhotse import CutSet

    rng = random.Random(hash((seed, epoch, index)))
    return CutSet.from_cuts(c.with_custom(DRAW_KEY, rng.getrandbits(31)) for c in batch)


def source_counts(batch: CutSet) -> dict[int, tuple[int, float]]:
    """{train source index: (cuts, seconds)} of one batch (untagged cuts: source 0)."""
    counts: dict[int, tuple[int, float]] = {}
    for cut in batch:
        i = int((cut.custom or {}).get(SOURCE_KEY, 0))
        n, s = counts.get(i, (0, 0.0))
        counts[i] = (n + 1, s + cut.duration)
    return counts


@dataclass(frozen=True)
class BatchSpec:
    """How one split is cut into batches."""

    max_duration: float | None = None  # seconds of audio per batch (longest cut x count)
    max_cuts: int | None = None  # utterances per batch
    bucketing: bool = True  # group similar durations (DynamicBucketingSampler)
    num_buckets: int = 10
    buffer_size: int = 20000  # cuts held for bucketing/shuffling
    shuffle: bool = True
    seed: int = 0


def duration_bins(split: EpochCuts, spec: BatchSpec, size: int) -> list[float] | None:
    """Bucket boundaries for `spec` from the first cuts of `split.meta`; None when not bucketing.

    Lhotse places them by the cuts' durations alone: a split that knows its durations
    (`first_durations`, from a manifest catalog) gives them without deserializing 10,000 cuts.
    """
    buckets = min(spec.num_buckets, size)
    if not spec.bucketing or buckets < 2:
        return None
    from lhotse.dataset.sampling.base import TimeConstraint
    from lhotse.dataset.sampling.dynamic_bucketing import estimate_duration_buckets

    constraint = TimeConstraint(max_duration=spec.max_duration, max_cuts=spec.max_cuts)
    first = getattr(split, "first_durations", None)
    if first is not None:
        durations: Iterable[Any] = [_Lasting(d) for d in first(BINS_ESTIMATE_CUTS)]
    else:
        durations = islice(split.meta, BINS_ESTIMATE_CUTS)
    bins: list[float] = estimate_duration_buckets(durations, buckets, constraint)
    return bins


class _Lasting(NamedTuple):
    """All `TimeConstraint.measure_length` reads of a cut."""

    duration: float


def lhotse_sampler(
    cuts: CutSet, spec: BatchSpec, world_size: int, rank: int, epoch: int, bins: list[float] | None, size: int
) -> CutSampler:
    """The Lhotse sampler of one epoch over `cuts`."""
    from lhotse.dataset import DynamicBucketingSampler, DynamicCutSampler

    common: dict[str, Any] = {
        "max_duration": spec.max_duration,
        "max_cuts": spec.max_cuts,
        "drop_last": False,
        "world_size": world_size,
        "rank": rank,
        "seed": spec.seed,
    }
    buffer = min(spec.buffer_size, max(size, 1))
    with warnings.catch_warnings():
        # in-memory CutSets are what small and folder sources are; Lhotse's hint is for huge ones
        warnings.filterwarnings("ignore", message=".*eagerly read CutSet.*")
        sampler: Any
        if bins is not None:
            # shuffle: random picks inside each bucket (the input order comes from `buffer_shuffled`)
            sampler = _bounded(DynamicBucketingSampler)(
                cuts, duration_bins=bins, buffer_size=buffer, sync_buckets=True, shuffle=spec.shuffle, **common
            )
        else:
            # the cuts come shuffled (`buffer_shuffled`): Lhotse's own streaming shuffle is not used
            sampler = _bounded(DynamicCutSampler)(cuts, shuffle=False, **common)
    sampler.hard_max_duration = spec.max_duration
    sampler.set_epoch(epoch)
    return sampler


def padded_seconds(batch: Iterable[Cut]) -> float:
    """Seconds of audio in `batch` once every cut is padded to its longest: what `max_duration` bounds."""
    durations = [c.duration for c in batch]
    return max(durations, default=0.0) * len(durations)


def within_duration(batch: CutSet, max_duration: float | None) -> list[CutSet]:
    """`batch` as batches whose padded seconds are at most `max_duration` (in `batch`'s order).

    Lhotse closes a batch only after adding the cut that crosses the limit (its check assumes the
    next cut is no longer than the longest so far), so a batch of Lhotse's can exceed
    `max_duration` by one cut: that cut (the latest one longer than the others) then goes to a
    batch of its own. A single cut longer than `max_duration` stays a batch of one.
    """
    from lhotse import CutSet

    cuts = list(batch)
    if max_duration is None or padded_seconds(cuts) <= max_duration:
        return [batch]
    out: list[list[Cut]] = [[]]
    for cut in cuts:
        if out[-1] and padded_seconds([*out[-1], cut]) > max_duration:
            out.append([])
        out[-1].append(cut)
    return [CutSet.from_cuts(part) for part in out]


class _HardDurationBound:
    """Mixin for Lhotse samplers: every batch's padded seconds within `max_duration` (`within_duration`).

    Applied to each batch Lhotse draws before its rank split, so every rank still sees the same
    global sequence and the same number of steps.
    """

    hard_max_duration: float | None = None
    _pending: list[CutSet]

    def _next_batch(self) -> CutSet:
        pending: list[CutSet] | None = getattr(self, "_pending", None)
        if pending:
            return pending.pop(0)
        parts = within_duration(super()._next_batch(), self.hard_max_duration)  # type: ignore[misc]
        self._pending = parts[1:]
        return parts[0]

    def __iter__(self) -> Any:
        self._pending = []
        return super().__iter__()  # type: ignore[misc]


@functools.cache
def _bounded(cls: type[CutSampler]) -> type[CutSampler]:
    """`cls` (a Lhotse sampler class) with `max_duration` as a hard bound (`_HardDurationBound`)."""
    return type(f"Bounded{cls.__name__}", (_HardDurationBound, cls), {})


class BufferShuffle:
    """The cuts of `cuts` in a random order drawn through a buffer of `size` cuts (lazy).

    A split that fits the buffer comes out uniformly shuffled, whether it is in memory or streamed
    (folder and Shar give the same order for the same seed). Lhotse's `streaming_shuffle` (its
    samplers' `shuffle=True`) yields the buffer in insertion order when the stream ends before the
    buffer fills, with each cut only swapped with one random earlier cut: an epoch of the bundled
    set kept a rank correlation of ~0.45 with the source order (speaker by speaker), and models
    trained on it generalised worse. A larger split: once the buffer is full, each incoming cut
    replaces a random one that is yielded (the usual buffer shuffle); the rest is shuffled at the end.
    """

    def __init__(self, cuts: Iterable[Cut], seed: int, size: int) -> None:
        self.cuts, self.seed, self.size = cuts, seed, size

    def __iter__(self) -> Iterator[Cut]:
        rng = random.Random(self.seed)
        buffer: list[Cut] = []
        for cut in self.cuts:
            if len(buffer) < self.size:
                buffer.append(cut)
                continue
            k = rng.randrange(len(buffer))
            yield buffer[k]
            buffer[k] = cut
        rng.shuffle(buffer)
        yield from buffer


def buffer_shuffled(cuts: CutSet, seed: int, size: int) -> CutSet:
    """`cuts` as a lazy CutSet in `BufferShuffle` order.

    >>> buffer_shuffled(CutSet(list_of_cuts), seed=3, size=20000)  # doctest: +SKIP
    """
    from lhotse import CutSet

    return CutSet(BufferShuffle(cuts, seed, size))


class CutBatchSampler(DistributedSampler):  # type: ignore[type-arg]  # yields CutSets, not indices
    """Per-rank batches of cuts (Lhotse `CutSet`s) of one split; see the module docstring.

    A `DistributedSampler` only by type: that tells Lightning the sampler already splits the data
    across ranks, so it does not wrap it in a second, index-based one. `super().__init__` is not
    called on purpose (its dataset/len bookkeeping does not apply).
    """

    def __init__(
        self, split: EpochCuts, spec: BatchSpec, world_size: int = 1, rank: int = 0, counted: bool | None = None
    ) -> None:
        from lalm_framework.data.steps import COUNTED_MAX_CUTS

        self.split, self.spec = split, spec
        self.counted = split.size <= COUNTED_MAX_CUTS if counted is None else counted
        self.num_replicas, self.rank = world_size, rank
        self.epoch = 0
        self.bins = duration_bins(split, spec, split.size)
        self._skip = 0  # batches of `epoch` already trained (after a resume)
        self._restored = False  # a loaded position not yet iterated: a stale set_epoch must not drop it
        self._yielded = 0
        self._lengths: dict[int, int] = {}
        self.draw_prompts = False  # tag train cuts with a seeded draw (prompt variants; `with_draws`)
        # per batch yielded in this process's current iteration: {source index: (cuts, seconds)}
        self.drawn_batches: list[dict[int, tuple[int, float]]] = []
        self._drawn_from = 0  # the batch index of this epoch the current iteration started at
        self._drawn_before: dict[int, tuple[int, float]] = {}  # earlier epochs of this process

    def drawn(self, trained: int | None = None) -> dict[int, tuple[int, float]]:
        """{source index: (cuts, seconds)} of the batches this process trained (`trained`: the
        batches of the current epoch done, as Lightning counts them; None: all yielded)."""
        total = dict(self._drawn_before)
        current = self.drawn_batches if trained is None else self.drawn_batches[: max(0, trained - self._drawn_from)]
        for counts in current:
            _add_counts(total, counts)
        return total

    @property
    def fixed_length(self) -> bool:
        """True when every epoch has the same number of batches (count-based batches)."""
        if self.split.epoch_steps is not None:
            return True
        if self.split.premixed:  # weighted sources, an epoch of hours: the batch count varies
            return False
        whole = self.split.size <= self.spec.buffer_size
        return not self.spec.shuffle or (self.spec.max_duration is None and (self.bins is None or whole))

    def set_epoch(self, epoch: int) -> None:
        """Iterate epoch `epoch` next. While a restored position waits for its iteration, an
        earlier epoch is ignored (a stale count), a later one drops it: the trainer went past it."""
        if self._restored:
            if epoch <= self.epoch:
                return
            self._restored = False
        if epoch != self.epoch:
            self._skip = 0
        self.epoch = epoch

    def _sampler(self, metadata: bool) -> CutSampler:
        # splits larger than the shuffle buffer are pre-shuffled (cuts or shards) per epoch
        if self.split.premixed:
            cuts = self.split.ordered(self.spec.seed + self.epoch, metadata)
            return lhotse_sampler(cuts, self.spec, self.num_replicas, self.rank, self.epoch, self.bins, self.split.size)
        reorder = self.spec.shuffle and self.split.size > self.spec.buffer_size
        cuts = self.split.ordered(self.spec.seed + self.epoch if reorder else None, metadata)
        if self.spec.shuffle:
            cuts = buffer_shuffled(cuts, self.spec.seed + self.epoch, self.spec.buffer_size)
        elif self.num_replicas > 1:  # evaluation: each example scored once (`cuts.cut_example`)
            cuts = cuts.map(with_own_id)
        return lhotse_sampler(cuts, self.spec, self.num_replicas, self.rank, self.epoch, self.bins, self.split.size)

    def _batches(self, metadata: bool) -> Iterator[CutSet]:
        """This rank's batches of the current epoch (at most `epoch_steps` of an endless mix)."""
        batches: Iterable[CutSet] = self._sampler(metadata)
        steps = self.split.epoch_steps
        if steps is not None:
            batches = islice(batches, steps)
        buffer = min(self.spec.buffer_size, max(self.split.size, 1))
        it: Iterator[CutSet] | None = None
        while True:
            # scoped to each step (a generator's `with` would hold the filter while it is suspended)
            with warnings.catch_warnings():
                if self.split.size <= buffer:
                    # the whole split is in the buffer, so Lhotse's size heuristic (warned when its
                    # bucketer starts, inside the iteration) does not apply
                    too_low = f"Your 'buffer_size' setting of {buffer} might be too low"
                    warnings.filterwarnings("ignore", message=too_low)
                it = iter(batches) if it is None else it  # the sampler sets its bucketer up here
                batch = next(it, None)
            if batch is None:
                return
            yield batch

    def __iter__(self) -> Iterator[CutSet]:
        skip = self._skip
        self._restored = False
        self._yielded = skip
        for counts in self.drawn_batches:  # the previous epoch's batches were all trained
            _add_counts(self._drawn_before, counts)
        self.drawn_batches, self._drawn_from = [], skip
        for i, batch in enumerate(self._batches(metadata=False)):
            if i >= skip:
                self._yielded += 1
                if self.draw_prompts:
                    batch = with_draws(batch, self.spec.seed, self.epoch, i)
                self.drawn_batches.append(source_counts(batch))
                yield batch
        self._skip = 0

    def __len__(self) -> int:
        if not self.counted and self.split.epoch_steps is None:
            # TypeError: what Python and Lightning take for "no length" (an epoch of unknown size)
            raise TypeError(f"the batches of the {self.split.size}-cut {self.split.name} split are not counted")
        return self.count()

    def count(self) -> int:
        """The exact number of batches of the current epoch (a dry run of the sampler over metadata)."""
        steps = self.split.epoch_steps
        if steps is not None:
            return steps
        if self.epoch not in self._lengths:
            self._lengths = {self.epoch: sum(1 for _ in self._batches(metadata=True))}
        return self._lengths[self.epoch]

    def min_batches(self) -> int:
        """A lower bound on `count()`, from the cut count and durations alone (no sampler run)."""
        if self.split.epoch_steps is not None:
            return self.split.epoch_steps
        spec = self.spec
        batches = 1
        if spec.max_cuts is not None:
            batches = math.ceil(self.split.size / spec.max_cuts)
        durations = getattr(self.split, "durations", None)
        if spec.max_duration is not None and durations is not None:
            # a batch's cuts last at most max_duration together, or it is one longer cut
            clipped = sum(min(d, spec.max_duration) for d in durations())
            batches = max(batches, math.ceil(clipped / spec.max_duration - 1e-9))
        return max(1, batches // self.num_replicas)

    # --- resume ------------------------------------------------------------------------------
    def state_dict(self, trained: int | None = None, epoch: int | None = None) -> dict[str, Any]:
        """Where this rank is: `trained` batches of `epoch` done (default: the current epoch, the
        batches yielded).

        Lightning's loaders prefetch, and an epoch cut short by `limit_train_batches` ends before
        its data does: pass where the trainer will resume (`private_api.fit_resume_position`).
        """
        return {
            "epoch": self.epoch if epoch is None else epoch,
            "batches": self._yielded if trained is None else trained,
            "world_size": self.num_replicas,
            "size": self.split.size,
            "spec": asdict(self.spec),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue the saved epoch after its trained batches (a changed setup restarts the epoch)."""
        epoch, done = int(state["epoch"]), int(state["batches"])
        mine = self.state_dict()
        changed = [k for k in ("world_size", "size", "spec") if state.get(k) != mine[k]]
        self._restored = False
        self.set_epoch(epoch)
        if changed:
            log.warning(
                "The checkpoint's data position does not fit this run (%s changed): epoch %d restarts "
                "from its first batch.",
                ", ".join(changed),
                epoch,
            )
            done = 0
        if done >= self.count():  # saved at the end of the epoch: the next one starts afresh
            self.set_epoch(epoch + 1)
            done = 0
        self._skip = self._yielded = done
        self._restored = True

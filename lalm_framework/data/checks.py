"""Before training: every audio file is checked (header only) and filtered by duration."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor

from lalm_framework.data.audio import audio_problem
from lalm_framework.data.utterance import Utterance
from lalm_framework.errors import UserError

log = logging.getLogger(__name__)
_SHOWN = 5  # bad files named in one message


def check_audio_files(
    utterances: list[Utterance], split: str, skip_bad_audio: bool = False, threads: int = 8
) -> list[Utterance]:
    """Utterances whose audio is readable; fills in `duration` from the file header.

    A missing or unreadable file raises UserError naming it (the default), or is skipped and
    counted in the log with `skip_bad_audio`.
    """
    # header reads wait on the disk, not the CPU: threads overlap them on network filesystems
    with ThreadPoolExecutor(max_workers=threads) as pool:
        results = list(pool.map(lambda u: audio_problem(u.audio), utterances))
    good: list[Utterance] = []
    bad: list[str] = []
    for utt, (problem, duration) in zip(utterances, results, strict=True):
        if problem is None:
            utt.duration = duration
            good.append(utt)
        else:
            bad.append(f"{utt.audio}: {problem}")
    if bad and not skip_bad_audio:
        more = f"\n  ... and {len(bad) - _SHOWN} more" if len(bad) > _SHOWN else ""
        raise UserError(
            f"{len(bad)} bad audio file(s) in the {split} split:\n  "
            + "\n  ".join(bad[:_SHOWN])
            + more
            + "\nFix or remove them, or set dataset.skip_bad_audio=true to skip them."
        )
    if bad:
        log.warning(
            "%s: skipped %d bad audio file(s) of %d (skip_bad_audio=true); first: %s",
            split,
            len(bad),
            len(utterances),
            bad[0],
        )
    if not good:
        raise UserError(f"The {split} split has no readable audio ({len(utterances)} files checked).")
    return good


def filter_by_duration(
    utterances: list[Utterance], split: str, min_duration: float | None = None, max_duration: float | None = None
) -> list[Utterance]:
    """Utterances with min_duration <= duration <= max_duration (unknown durations are kept)."""
    lo = min_duration if min_duration is not None else 0.0
    hi = max_duration if max_duration is not None else float("inf")
    kept = [u for u in utterances if u.duration is None or lo <= u.duration <= hi]
    if len(kept) < len(utterances):
        log.info(
            "%s: %d of %d utterances outside %.2f-%.2f s dropped",
            split,
            len(utterances) - len(kept),
            len(utterances),
            lo,
            hi,
        )
    if not kept:
        raise UserError(
            f"No {split} utterance is between {lo} and {hi} s long.\nWiden dataset.min_duration / dataset.max_duration."
        )
    return kept

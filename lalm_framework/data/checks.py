"""Before training: every audio file is checked (header + tail) and utterances filtered by duration."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from lalm_framework.data.audio import audio_problem
from lalm_framework.data.utterance import Utterance
from lalm_framework.errors import UserError

log = logging.getLogger(__name__)
_SHOWN = 5  # bad files named in one message
_THREADS = 8  # header reads wait on the disk, not the CPU: threads overlap them on network filesystems


def check_audio_files(
    utterances: list[Utterance], split: str, skip_bad_audio: bool = False, threads: int = _THREADS
) -> list[Utterance]:
    """Utterances whose audio is readable; fills in `duration` from the file header.

    A missing or unreadable file raises UserError naming it (the default), or is skipped and
    counted in the log with `skip_bad_audio`.
    """
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
    report_bad_audio(bad, len(utterances), split, skip_bad_audio)
    return good


def bad_audio_files(paths: Sequence[str], threads: int = _THREADS) -> dict[str, str]:
    """{path: problem} of the files in `paths` that are missing, unreadable or empty."""
    unique = sorted(set(paths))
    with ThreadPoolExecutor(max_workers=threads) as pool:
        problems = pool.map(lambda p: audio_problem(p)[0], unique)
    return {p: problem for p, problem in zip(unique, problems, strict=True) if problem is not None}


def report_bad_audio(bad: list[str], total: int, split: str, skip_bad_audio: bool) -> None:
    """Stop on bad audio (naming the files and the fix), or count the skipped ones in the log."""
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
            "%s: skipped %d bad audio file(s) of %d (skip_bad_audio=true); first: %s", split, len(bad), total, bad[0]
        )
    if len(bad) == total:
        raise UserError(f"The {split} split has no readable audio ({total} files checked).")


def duration_filter_message(split: str, dropped: int, total: int, lo: float, hi: float) -> None:
    """Log (or, when nothing is left, raise) the outcome of the utterance-duration filter."""
    if dropped:
        log.info("%s: %d of %d utterances outside %.2f-%.2f s dropped", split, dropped, total, lo, hi)
    if dropped == total:
        raise UserError(
            f"No {split} utterance is between {lo} and {hi} s long.\n"
            "Widen dataset.min_utterance_duration / dataset.max_utterance_duration."
        )

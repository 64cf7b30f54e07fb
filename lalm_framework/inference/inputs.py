"""What `lalm-infer` reads: split folders, manifests, audio folders and files (no torch here).

`sample:<split>` (e.g. `sample:dev`) names a split of the bundled speech set, wherever the
command runs from. `NAME=INPUT` (e.g. `clean=/data/LibriSpeech/test-clean`) names an evaluation
set (`named_inputs`): one JSONL and one table row per set.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from lalm_framework.data.utterance import Utterance
from lalm_framework.errors import UserError

SAMPLE_PREFIX = "sample:"
_NAMED = re.compile(r"^([A-Za-z0-9][A-Za-z0-9_.-]*)=(.+)$")


def named_inputs(inputs: Sequence[str]) -> dict[str, list[str]]:
    """`{set name: [input]}` of `NAME=INPUT` arguments, or `{"": inputs}` when none is named.

    An argument that is an existing path is a path, whatever it contains. Naming some inputs and
    not others, or one name twice, is a UserError.
    """
    named: dict[str, list[str]] = {}
    plain: list[str] = []
    for raw in inputs:
        m = _NAMED.match(raw)
        if m is None or Path(raw).expanduser().exists():
            plain.append(raw)
            continue
        name, value = m.groups()
        if name in named:
            raise UserError(f"{raw}: the set name '{name}' is given twice; give each set its own name.")
        named[name] = [value]
    if named and plain:
        raise UserError(
            f"{plain[0]}: name every input (clean=DIR other=DIR2 ...) or none; "
            f"here {', '.join(named)} {'is' if len(named) == 1 else 'are'} named and {plain[0]} is not."
        )
    return named or {"": list(plain)}


def resolve_input(raw: str | Path) -> Path:
    """The path an input names: `sample:<split>` is the bundled set's split folder."""
    text = str(raw)
    if not text.startswith(SAMPLE_PREFIX):
        return Path(text).expanduser()
    from lalm_framework.samples import SAMPLE_ROOT

    split = text[len(SAMPLE_PREFIX) :]
    splits = sorted(p.name for p in SAMPLE_ROOT.iterdir() if p.is_dir())
    if split not in splits:
        names = ", ".join(SAMPLE_PREFIX + s for s in splits)
        raise UserError(f"{text}: the bundled set has no split '{split}'; use one of {names}.")
    return SAMPLE_ROOT / split


def read_inputs(inputs: Sequence[str | Path], text_key: str = "text") -> list[Utterance]:
    """Utterances from LibriSpeech-layout split folders (with references), JSONL manifests
    (references when `text_key` is present), other folders and single audio files (none)."""
    from lalm_framework.data.librispeech import is_librispeech_split, read_librispeech
    from lalm_framework.data.manifest import read_audio_paths, read_manifest

    utts: list[Utterance] = []
    plain: list[Path] = []
    for raw in inputs:
        p = resolve_input(raw)
        if p.suffix == ".jsonl":
            utts += read_manifest(p, text_key=text_key, require_text=False, unique_ids=False)
        elif is_librispeech_split(p):
            utts += read_librispeech(p.parent, p.name)
        else:
            plain.append(p)
    if plain:
        utts += read_audio_paths(plain)
    return utts

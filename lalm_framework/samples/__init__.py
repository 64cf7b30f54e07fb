"""The bundled speech set of `dataset=sample` (espeak-ng speech, LibriSpeech layout).

Regenerate it with `python -m lalm_framework.samples.generate --force`.
"""

from pathlib import Path

# <SAMPLE_ROOT>/{train,dev,test}/<spk>/<chapter>/*.flac + <spk>-<chapter>.trans.txt
SAMPLE_ROOT = Path(__file__).resolve().parent / "speech"

__all__ = ["SAMPLE_ROOT"]

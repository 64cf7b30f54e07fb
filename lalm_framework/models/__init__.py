"""Model parts of an audio LLM: Whisper encoder, projector, causal LM (+ LoRA/QLoRA), the LALM.

Import the submodules (they import torch/transformers); this package itself stays light.
"""

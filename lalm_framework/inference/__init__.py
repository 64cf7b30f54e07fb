"""Inference with trained audio LLMs: load a checkpoint (+ LoRA adapter), transcribe, score."""

"""Inference with trained audio LLMs: load a checkpoint or an export, transcribe, score, export.

`loading` (checkpoints, read safely; exports; LoRA adapters), `transcribe` (rows, WER, JSONL),
`export` + `model_card` (`lalm-export`), `pretrained` (`load_pretrained`: no Lightning, Hydra or pickle).
"""

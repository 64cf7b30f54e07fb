"""What the runner adds to Lightning's Trainer and model; no training loop (that is Lightning's).

- `checkpoint_io`: checkpoints written atomically and read safely (a CheckpointIO plugin).
- `reporting`: callbacks and lines that tell the user and run.json what a run did.
- `wer`: the word error rate the model logs and `lalm-infer` reports.
"""

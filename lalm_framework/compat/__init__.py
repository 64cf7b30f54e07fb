"""Where we meet other code on its terms, not ours: legacy configs and other libraries' internals.

- `legacy`: legacy `target`/`params` configs (instantiate them, convert them to `_target_`).
- `instantiate`: the one instantiation path (legacy nodes rewritten, then Hydra's).
- `private_api`: every use of another library's private API (Hydra, Lightning, ...), each
  with its test in `tests/core/test_private_api.py`.
- `hydra_submitit`: hydra-submitit's executor setup (upstream has it inline in `launch`), with a
  test that fails when upstream's changes.
"""

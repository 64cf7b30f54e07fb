"""Legacy `target`/`params` configs: instantiate them, convert them to `_target_`."""

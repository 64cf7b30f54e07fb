"""Schemas of the framework's own components (models, datasets), registered per group.

Each group module that owns a schema adds it here, so the SearchPath plugin registers every
schema in one call without importing torch.
"""
from __future__ import annotations


def register_component_schemas() -> None:
    """Register the component schemas in ConfigStore (light imports only)."""
    from lalm_framework.models.schema import register_model_schemas

    register_model_schemas()
    return None

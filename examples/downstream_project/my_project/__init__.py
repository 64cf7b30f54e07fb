"""A user's project that builds on lalm-framework."""

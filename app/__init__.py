"""Groundswell's composition root: settings, web wiring, CLI and migrations."""

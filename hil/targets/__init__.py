"""Targets: where a firmware image runs (an emulator, a board). They move bytes; they know no models."""

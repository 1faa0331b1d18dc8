"""Registers the hil pytest plugin for runs from a checkout (an install registers it by entry point)."""

pytest_plugins = ["hil.plugin"]

"""Benchmarks that print the figures the issues ask for. Figures, not tests: these machines are noisy."""

"""Runnable examples: `python -m examples.inverted_pendulum`."""

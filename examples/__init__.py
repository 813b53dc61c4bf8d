"""Runnable examples: `python -m examples.pendulum`."""

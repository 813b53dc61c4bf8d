"""Benchmarks of aihf_control (run as modules, e.g. ``python -m benchmarks.overhead``)."""

"""Benchmarks of the bot against real servers on this machine: ``python -m bench.<name>``."""

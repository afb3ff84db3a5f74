"""Benchmarks and the synthetic catalog generator they run on."""

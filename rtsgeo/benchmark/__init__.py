"""Benchmarks users run on their own hardware (``rtsgeo benchmark ...``).

This is tooling, not part of the mapping pipeline: :mod:`~rtsgeo.benchmark.model`
measures a model (parameters, training-step memory, fusion cost) and
:mod:`~rtsgeo.benchmark.predict` the scene predictor (throughput, overhead
over the model, memory). Each measurement runs in its own Python process, so
import the submodule you need; this package imports nothing heavy.
"""

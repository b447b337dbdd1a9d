"""Benchmarks users run on their own hardware (``rtsgeo benchmark ...``).

This is tooling, not part of the mapping pipeline:

* :mod:`~rtsgeo.benchmark.data` times the training data stream
  (:func:`run_data_benchmark`);
* :mod:`~rtsgeo.benchmark.model` measures a model (parameters, training-step
  memory, fusion cost);
* :mod:`~rtsgeo.benchmark.predict` measures the scene predictor (throughput,
  overhead over the model, memory), and :mod:`~rtsgeo.benchmark.pipeline`
  everything around the model, with a stand-in model of a set speed.

The model and predictor measurements run each in a fresh Python process
(``python -m rtsgeo.benchmark.model|predict|pipeline``), so import those submodules
where you need them; this package imports nothing heavy.
"""

from .data import describe_data, run_data_benchmark

__all__ = ['describe_data', 'run_data_benchmark']

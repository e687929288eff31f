"""ember_bench: the benchmark harness of Ember (see bench/README.md).

Runs pyperformance's installed benchmark scripts under several process
configurations (CPython 3.13 without JIT, Ember modes, peer JITs), in two
regimes (steady state and cold), and reports speedups with bootstrap
confidence intervals, JIT-activity proof, markdown tables and PNG plots.
"""

__version__ = "0.1.0"

"""oracle_core: the re-executable companion to "Is Oracle Pruning the True Oracle?" (arXiv 2412.00143)."""

__version__ = "0.1.0"

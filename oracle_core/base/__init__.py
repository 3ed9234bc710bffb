"""Foundations: the error users see, every root folder and file-writing primitive. Imports nothing of ours."""

from .errors import OracleError
from .io import atomic_torch_save, atomic_write_bytes, atomic_write_csv, atomic_write_json, md5sum, read_json
from .paths import REFERENCE_DIR, REPO, default_data_root, default_results_root

__all__ = ["OracleError", "REFERENCE_DIR", "REPO", "atomic_torch_save", "atomic_write_bytes", "atomic_write_csv",
           "atomic_write_json", "default_data_root", "default_results_root", "md5sum", "read_json"]

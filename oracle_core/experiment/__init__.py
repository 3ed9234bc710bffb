"""Experiment: what to run and how it is stored. Profiles and specs (hashed into folder names), the results
store (atomic, locked, validated), the runner (pretrain -> pruned loss -> retrain in shards -> summary), its
executors (in-process or Ray), the paper's grid and the command line. Imports base, data, models and compute;
nothing here knows of paper numbers, tables or pages."""

from .commands import run_command
from .grid import CONVERGED_ORDER, GridEntry, mnist_grid, plan, progress, projected_hours, run_grid
from .protocol import FAMILY_PROFILES, PROFILES, Profile, get_profile, profile_table
from .results import StudyResult, load_result, load_run_dir, stored_result
from .runner import run_study
from .spec import StudySpec, make_spec, profile_of, short_is_prefix, short_run_spec
from .store import RunStore, find_runs

__all__ = ["CONVERGED_ORDER", "FAMILY_PROFILES", "PROFILES", "GridEntry", "Profile", "RunStore", "StudySpec",
           "StudyResult", "find_runs", "get_profile", "load_result", "load_run_dir", "make_spec", "mnist_grid", "plan",
           "profile_of", "profile_table", "progress", "projected_hours", "run_command", "run_grid", "run_study",
           "short_is_prefix", "short_run_spec", "stored_result"]

"""Pages: what the book shows. One module per kind of page (figure, setting, lesson, large models, profiles,
wiring, beyond, summary), one altair helper (charts) and the build (PAGES, which
also writes the table of contents). Reads the store through analysis and experiment; nothing imports pages."""

from . import (
               beyond,
               build,
               charts,
               disagreements,
               figure,
               large_models,
               lesson,
               profiles,
               setting,
               summary,
               wiring,
)

__all__ = ["beyond", "build", "charts", "disagreements", "figure", "large_models", "lesson", "profiles",
           "setting", "summary", "wiring"]

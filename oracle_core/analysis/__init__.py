"""Analysis: stored results read against the paper. The paper's numbers (reference), whether a setting is
under-trained, agrees or disagrees (agreement), the criteria compared on the same masks (criteria, a registry),
the lesson of short retraining (lesson), bootstrap intervals and the noise ceiling (uncertainty), and the whole
store as one tidy table (collect). pandas and scipy only: nothing here draws a chart."""

from . import agreement, collect, criteria, lesson, panel, reference, uncertainty

__all__ = ["agreement", "collect", "criteria", "lesson", "panel", "reference", "uncertainty"]

"""Evaluation families (docstring to come)."""

from evaluation.vision.families.catalogue import FAMILIES, FITTING, HELD_OUT, Family
from evaluation.vision.families.render import render, render_scene
from evaluation.vision.families.truth import Distractor, Mark, PlaneScale, RoofPhoto

__all__ = [
    "FAMILIES",
    "FITTING",
    "HELD_OUT",
    "Distractor",
    "Family",
    "Mark",
    "PlaneScale",
    "RoofPhoto",
    "render",
    "render_scene",
]

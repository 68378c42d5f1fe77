"""Dominus lead analysis: a structured assessment of a roofing lead."""

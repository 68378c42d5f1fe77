"""Dominus video: explainer scripts and shot-by-shot storyboards for homeowners and adjusters."""

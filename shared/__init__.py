"""Dominus shared layer: the performance engine every AI call goes through."""

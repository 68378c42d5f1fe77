"""Dominus smart actions: carrier emails, claim summaries and prioritised next actions."""

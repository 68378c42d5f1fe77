"""Dominus local runtime: dev server, Upstash-REST server, simulated OpenAI-compatible model."""

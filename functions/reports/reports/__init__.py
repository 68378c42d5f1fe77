"""The roof report: a geometry result and vision results joined per facet, under a carrier's rules."""

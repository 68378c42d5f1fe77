"""The geometry function's evaluation: synthetic roofs (DSMs with exact facets and edges) and their scoring."""

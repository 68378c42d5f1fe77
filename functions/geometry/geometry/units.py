"""The report's units: areas in square feet, lengths in feet (roofers' units), from metres."""

SQFT_PER_M2 = 10.763910416709722
FT_PER_M = 1 / 0.3048

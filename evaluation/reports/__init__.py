"""The report function's evaluation: synthetic report inputs at sizes real claims reach."""

"""The claim packet: one PDF a desk reviewer acts on, an editable DOCX, and the evidence behind them."""

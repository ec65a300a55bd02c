"""The packaged learned escalation reviewer (see MODEL_CARD.md). A package so that its
data files are installed with the wheel."""

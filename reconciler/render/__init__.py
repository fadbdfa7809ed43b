"""Plan and diagnostics → output for people (text, markdown) and machines (JSON). Decides nothing."""

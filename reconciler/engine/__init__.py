"""The engine: the one layer that orchestrates — read live state, diff, policy, apply, export, drift.

Everything between load and apply is pure data; I/O happens at the edges (backend, state, targets)."""

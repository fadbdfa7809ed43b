"""HTTP to MISP. Knows no kinds: paths in, JSON out, MISP's failures as typed errors."""

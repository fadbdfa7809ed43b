"""Shared vocabulary: addresses, list semantics, secret references. Pure; imports only diags."""

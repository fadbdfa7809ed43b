"""Manifests: YAML files → validated Desired state, with every problem as a diagnostic naming file:line:col.

Nothing here touches the network or the state database."""

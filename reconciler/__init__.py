"""misp-reconciler: configuration-as-code for MISP.

Load YAML manifests, compare them with a live MISP (or the embedded sandbox), plan and apply the changes.
"""

__version__ = "0.1.0"

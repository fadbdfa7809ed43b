"""The sandbox: an embedded twin of MISP 2.5.1's admin REST API (Starlette-free ASGI over SQLAlchemy).

It imports nothing from the rest of reconciler except itself: a twin that shared our MISP mapping would
agree with our bugs.
"""

from reconciler.sandbox.app import DEFAULT_ADMIN_KEY, SandboxApp, create_app
from reconciler.sandbox.faults import FaultRule, Faults

__all__ = ["DEFAULT_ADMIN_KEY", "FaultRule", "Faults", "SandboxApp", "create_app"]

"""Errors the state layer raises. The CLI renders them; the engine lets LockHeld reach the user as is.

* StateError
  + LockHeld            another run holds the instance's lock (lock.py)
  + UnknownRun          no run with that id
  + InvalidTransition   a journal step out of order (intent → sent → confirmed | failed): a bug in the caller
  + StateNotEmpty       import refused: the target already holds state
  + UnknownRevision     the database was migrated by a newer misp-reconciler
  + BadExport           an export file this version cannot read
  + StateUnavailable    the database cannot be reached or opened
"""

from __future__ import annotations


class StateError(Exception):
    """Base of every error of the state layer."""


class UnknownRun(StateError, LookupError):
    def __init__(self, run_id: int) -> None:
        super().__init__(f"there is no run {run_id} in this state")
        self.run_id = run_id


class InvalidTransition(StateError):
    pass


class StateNotEmpty(StateError):
    pass


class UnknownRevision(StateError):
    pass


class BadExport(StateError):
    pass


class StateUnavailable(StateError):
    pass

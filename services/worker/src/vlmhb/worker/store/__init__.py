"""The lease store: stage attempts with their fencing tokens, and the events workers relay."""

from vlmhb.worker.store.leases import Attempt, AttemptState, LeaseStore, LeaseWord

__all__ = ["Attempt", "AttemptState", "LeaseStore", "LeaseWord"]

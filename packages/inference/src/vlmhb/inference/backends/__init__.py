"""Model backends served by the API wrapper (registered in the ``vlmhb.models`` group)."""

from vlmhb.inference.backends.base import (
    Backend,
    BackendError,
    Generation,
    GenerationRequest,
    InvalidRequestError,
)

__all__ = ["Backend", "BackendError", "Generation", "GenerationRequest", "InvalidRequestError"]

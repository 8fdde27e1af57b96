"""VLMHyperBench v0.1 model packages, run unchanged behind ``/v1/chat/completions``.

A v0.1 package (installed into the model's env: ``env.packages``) defines a subclass of
v0.1's ``ModelInterface``: ``__init__(model_name, system_prompt, cache_dir)``,
``predict_on_image(image, question) -> str`` and ``predict_on_images(images, question)``
for several pages. The backend imports ``module``, builds ``class_name`` once at load
and calls it in a worker thread, one request at a time (v0.1 models are not
thread-safe); images are Pillow images, the question is the request's user text. The
wrapper measures the same timings as for every backend; a streamed answer arrives at
once, so its TTFT is its latency. Token counts are word counts. ``module``,
``class_name``, ``model_name`` and ``cache_dir`` name code to import: operator-only.
"""

from __future__ import annotations

import asyncio
import importlib
from typing import Annotated, Any

from pydantic import Field

from vlmhb.core.contracts import ModelSpec
from vlmhb.core.fieldtypes import OPERATOR, BackendParams
from vlmhb.inference.backends.base import (
    Backend,
    BackendError,
    Generation,
    GenerationRequest,
    InvalidRequestError,
    apply_limits,
    count_words,
)


class ModelInterfaceParams(BackendParams):
    """What to import and how to build it (operator-only but ``system_prompt``)."""

    module: Annotated[
        str, OPERATOR, Field(description="module to import, e.g. model_qwen2_vl.models")
    ]
    class_name: Annotated[
        str, OPERATOR, Field(description="the ModelInterface subclass in the module")
    ]
    model_name: Annotated[
        str | None,
        OPERATOR,
        Field(description="model_name given to the class (default: the spec's model or name)"),
    ] = None
    cache_dir: Annotated[
        str, OPERATOR, Field(description="cache_dir given to the class (weights)")
    ] = "model_cache"
    system_prompt: str = Field(
        "",
        description="system_prompt given to the class; a "
        "request's system text replaces it for that request",
    )


class ModelInterfaceBackend(Backend):
    """A v0.1 ``ModelInterface`` object answering chat requests."""

    name = "model_interface"
    Params = ModelInterfaceParams
    p: ModelInterfaceParams

    def __init__(self, spec: ModelSpec) -> None:
        super().__init__(spec)
        self.model: Any = None
        self._lock = asyncio.Lock()

    async def load(self) -> None:
        """Import the module and build the model (in a thread: weights may load)."""
        self.model = await asyncio.to_thread(self._build)

    def _build(self) -> Any:
        p = self.p
        try:
            module = importlib.import_module(p.module)
        except ImportError as exc:
            raise BackendError(
                f"model_interface: cannot import {p.module!r} ({exc}); is "
                "its package in the model's env.packages?"
            ) from exc
        cls = getattr(module, p.class_name, None)
        if not isinstance(cls, type) or not callable(getattr(cls, "predict_on_image", None)):
            raise BackendError(
                f"model_interface: {p.module}.{p.class_name} is not a class "
                "with predict_on_image(image, question)"
            )
        return cls(
            model_name=p.model_name or self.spec.model or self.spec.name,
            system_prompt=p.system_prompt,
            cache_dir=p.cache_dir,
        )

    async def unload(self) -> None:
        self.model = None

    def _predict(self, request: GenerationRequest) -> str:
        model = self.model
        if request.system:
            model.system_prompt = request.system
        if len(request.images) == 1:
            answer = model.predict_on_image(request.images[0], request.user)
        else:
            answer = model.predict_on_images(list(request.images), request.user)
        return "" if answer is None else str(answer)

    async def generate(self, request: GenerationRequest) -> Generation:
        if self.model is None:
            raise BackendError("model_interface: the model is not loaded")
        if not request.images:
            raise InvalidRequestError("a v0.1 ModelInterface model needs an image")
        async with self._lock:
            try:
                text = await asyncio.to_thread(self._predict, request)
            except Exception as exc:  # the package's own failure: one failed sample
                raise BackendError(f"{self.p.class_name}: {type(exc).__name__}: {exc}") from exc
        text, finish = apply_limits(text, request)
        prompt_tokens = count_words(request.system) + count_words(request.user)
        return Generation(text, prompt_tokens, count_words(text), finish)

    def info(self) -> dict[str, Any]:
        return {**super().info(), "module": self.p.module, "class_name": self.p.class_name}

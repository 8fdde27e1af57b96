"""Hugging Face vision-language models run in-process with ``transformers``.

The model folder (``ModelSpec.model_path``) is loaded with ``AutoModelForImageTextToText``
and ``AutoProcessor`` from local files only (never a model hub). Each request becomes a
chat (``system`` text, then a user turn with one ``{"type": "image"}`` part per image and
the user text) rendered by the processor's chat template, so any family whose processor
has a chat template works in principle: LLaVA (tested), Qwen2-VL / Qwen2.5-VL, Idefics.

Params (``ModelSpec.params``):
- ``device``: ``cpu`` (default), ``cuda``, ``cuda:N`` or ``auto`` (CUDA when available).
- ``dtype``: ``auto`` (the checkpoint's, default), ``float32``, ``bfloat16``, ``float16``.
- ``max_batch_size`` (default 8) and ``batch_wait_ms`` (default 5): requests that wait
  while a batch runs, or (when the server is busy) arrive within ``batch_wait_ms`` of the
  first one, are run as one left-padded ``generate`` (see ``batching.Batcher``); requests
  with different sampling modes (greedy vs. a given temperature) or with and without
  images never share a batch.
- ``trust_remote_code`` (default false), ``num_threads`` (CPU threads for torch).

Generation: ``max_tokens`` → ``max_new_tokens`` (per request, even inside a batch),
``temperature`` 0 → greedy (deterministic), > 0 → sampling (other sampling settings,
e.g. ``top_k``/``top_p``, come from the model's ``generation_config``); ``stop`` strings cut the
answer (the stop string is not included). Streaming is real, also inside a batch: a
stopping-criteria hook sees every new token of every row and streams each row's text
delta to its own request. Usage: prompt tokens = the row's non-padding input tokens
(image tokens included), completion tokens = generated tokens up to and including EOS.

``torch`` and ``transformers`` are not dependencies of this package: they are installed
into the model's env (``env: {installer: pip, packages: [torch==..., transformers==...]}``)
and imported only when the backend loads.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator, Hashable
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field

from vlmhb.core.contracts import ModelSpec
from vlmhb.core.fieldtypes import OPERATOR, BackendParams
from vlmhb.inference.backends.base import (
    Backend,
    BackendError,
    Generation,
    GenerationRequest,
)
from vlmhb.inference.backends.batching import Batcher, Job, RowState

log = logging.getLogger("vlmhb.inference.transformers")

DTYPES = ("auto", "float32", "bfloat16", "float16")
# What the model env needs (checked together: CPU torch from the local wheel, pip installer).
ENV_PACKAGES = ("torch==2.13.0", "transformers==5.23.0")
USAGE_KEY = "_vlmhb_transformers_usage"


def build_messages(request: GenerationRequest) -> list[dict[str, Any]]:
    """OpenAI-style chat of ``request`` in the Hugging Face multimodal message format."""
    messages: list[dict[str, Any]] = []
    if request.system:
        messages.append({"role": "system", "content": [{"type": "text", "text": request.system}]})
    content: list[dict[str, Any]] = [{"type": "image"} for _ in request.images]
    if request.user or not content:
        content.append({"type": "text", "text": request.user})
    messages.append({"role": "user", "content": content})
    return messages


def batch_key(request: GenerationRequest) -> Hashable:
    """Requests may share a ``generate`` call only with the same key."""
    sampling = round(request.temperature, 6) if request.temperature > 0 else 0.0
    return sampling, bool(request.images)


def _stopping_criteria(rows: list[RowState]) -> Any:
    """A ``StoppingCriteria`` that feeds each step's new tokens to ``rows``."""
    import torch
    from transformers import StoppingCriteria

    class RowsCriteria(StoppingCriteria):
        def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
            newest = input_ids[:, -1].tolist()
            done = [row.add(int(token)) for row, token in zip(rows, newest, strict=True)]
            return torch.tensor(done, dtype=torch.bool, device=input_ids.device)

    return RowsCriteria()


class TransformersParams(BackendParams):
    """The transformers backend's params; ``trust_remote_code`` imports Python code from
    the model folder: operator only."""

    device: str = Field(
        "cpu",
        pattern=r"^(cpu|auto|mps|cuda(:\d+)?)$",
        description="cpu, cuda, cuda:N or auto (CUDA when available)",
    )
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field(
        "auto", description="weights dtype (auto: the checkpoint's)"
    )
    max_batch_size: int = Field(8, ge=1, description="requests run as one generate call")
    batch_wait_ms: float = Field(
        5.0, ge=0, description="how long a batch waits for more requests when the server is idle"
    )
    num_threads: int | None = Field(None, ge=1, description="CPU threads of torch")
    trust_remote_code: Annotated[
        bool, OPERATOR, Field(description="run the model folder's own Python code")
    ] = False


class TransformersBackend(Backend):
    """A local Hugging Face image-text-to-text model with request batching."""

    name = "transformers"
    Params = TransformersParams
    p: TransformersParams

    def __init__(self, spec: ModelSpec) -> None:
        super().__init__(spec)
        if not spec.model_path:
            raise ValueError("transformers: model_path (the model folder) is required")
        self.model_path = Path(spec.model_path)
        p = self.p
        self.device = p.device
        self.dtype: str = p.dtype
        self.max_batch_size = p.max_batch_size
        self.batch_wait_ms = p.batch_wait_ms
        self.trust_remote_code = p.trust_remote_code
        self.num_threads = p.num_threads
        self.model: Any = None
        self.processor: Any = None
        self.eos_ids: frozenset[int] = frozenset()
        self.pad_id: int | None = None
        self.versions: dict[str, str] = {}
        self._batcher = Batcher(self._run_batch, self.max_batch_size, self.batch_wait_ms / 1000)

    # --- loading -----------------------------------------------------------------------
    async def load(self) -> None:
        if not self.model_path.is_dir():
            raise BackendError(f"transformers: model folder {self.model_path} does not exist")
        await asyncio.to_thread(self._load_sync)
        self._batcher.start()

    def _load_sync(self) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        try:
            import torch
            import transformers
            from transformers import AutoModelForImageTextToText, AutoProcessor
        except ImportError as exc:
            raise BackendError(
                f"transformers backend needs torch and transformers in the model env ({exc}); "
                "set env: {installer: pip, packages: [torch==..., transformers==...]}"
            ) from exc
        if self.num_threads:
            torch.set_num_threads(self.num_threads)
        device = self.device
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.device = device
        dtype: Any = "auto" if self.dtype == "auto" else getattr(torch, self.dtype)
        common = {"local_files_only": True, "trust_remote_code": self.trust_remote_code}
        self.processor = AutoProcessor.from_pretrained(self.model_path, **common)
        model = AutoModelForImageTextToText.from_pretrained(self.model_path, dtype=dtype, **common)
        self.model = model.to(device).eval()
        tokenizer = self.tokenizer
        tokenizer.padding_side = "left"
        if (
            getattr(self.processor, "chat_template", None) is None
            and getattr(tokenizer, "chat_template", None) is None
        ):
            raise BackendError(f"transformers: {self.model_path} has no chat template")
        eos = self.model.generation_config.eos_token_id
        eos_ids = set(eos if isinstance(eos, list) else [eos] if eos is not None else [])
        if tokenizer.eos_token_id is not None:
            eos_ids.add(int(tokenizer.eos_token_id))
        self.eos_ids = frozenset(int(i) for i in eos_ids)
        pad = tokenizer.pad_token_id
        self.pad_id = int(pad) if pad is not None else min(self.eos_ids, default=None)
        self.versions = {"torch": torch.__version__, "transformers": transformers.__version__}
        log.info(
            "loaded %s (%s) on %s, dtype %s",
            self.model_path,
            type(model).__name__,
            device,
            self.model.dtype,
        )

    @property
    def tokenizer(self) -> Any:
        return getattr(self.processor, "tokenizer", self.processor)

    async def unload(self) -> None:
        await self._batcher.close()
        self.model = None
        self.processor = None

    # --- serving -------------------------------------------------------------------------
    def _submit(self, request: GenerationRequest) -> Job:
        if self.model is None:
            raise BackendError("transformers: the model is not loaded")
        return self._batcher.submit(request, batch_key(request))

    async def generate(self, request: GenerationRequest) -> Generation:
        return await self._submit(request).result()

    async def stream(self, request: GenerationRequest) -> AsyncIterator[str]:
        job = self._submit(request)
        try:
            async for chunk in job.chunks():
                yield chunk
            if job.generation is not None:
                usage = (job.generation.prompt_tokens, job.generation.completion_tokens)
                request.metadata[USAGE_KEY] = usage
        finally:
            job.cancelled.set()  # a client that went away stops its row early

    def usage(self, request: GenerationRequest, text: str) -> tuple[int, int]:
        """Real token counts of a streamed answer (recorded when its stream ended)."""
        usage = request.metadata.get(USAGE_KEY)
        return (int(usage[0]), int(usage[1])) if usage else super().usage(request, text)

    def _prompt(self, request: GenerationRequest) -> str:
        text = self.processor.apply_chat_template(
            build_messages(request), add_generation_prompt=True, tokenize=False
        )
        return str(text)

    def _inputs(self, jobs: list[Job]) -> Any:
        texts = [self._prompt(job.request) for job in jobs]
        kwargs: dict[str, Any] = {"text": texts, "return_tensors": "pt", "padding": True}
        if any(job.request.images for job in jobs):
            kwargs["images"] = [
                [image.convert("RGB") for image in job.request.images] for job in jobs
            ]
        try:
            inputs = self.processor(**kwargs)
        except Exception as exc:
            raise BackendError(
                f"transformers: the processor rejected the request: {type(exc).__name__}: {exc}"
            ) from exc
        inputs = inputs.to(self.device)
        for name, value in inputs.items():
            if hasattr(value, "is_floating_point") and value.is_floating_point():
                inputs[name] = value.to(self.model.dtype)
        return inputs

    def _decode(self, tokens: list[int]) -> str:
        return str(self.tokenizer.decode(tokens, skip_special_tokens=True))

    def _run_batch(self, jobs: list[Job]) -> None:
        """One left-padded ``generate`` for ``jobs`` (runs in the batcher's thread)."""
        import torch
        from transformers import StoppingCriteriaList

        inputs = self._inputs(jobs)
        prompt_tokens = [int(n) for n in inputs["attention_mask"].sum(dim=1).tolist()]
        rows = [
            RowState(
                decode=self._decode,
                eos_ids=self.eos_ids,
                max_tokens=job.request.max_tokens,
                stops=list(job.request.stop),
                emit=job.deliver,
                cancelled=job.cancelled.is_set,
            )
            for job in jobs
        ]
        temperature = jobs[0].request.temperature
        options: dict[str, Any] = {
            "max_new_tokens": max(job.request.max_tokens for job in jobs),
            "do_sample": temperature > 0,
            "pad_token_id": self.pad_id,
            "stopping_criteria": StoppingCriteriaList([_stopping_criteria(rows)]),
        }
        if temperature > 0:
            options["temperature"] = temperature
        with torch.inference_mode():
            self.model.generate(**inputs, **options)
        for row, job, prompt in zip(rows, jobs, prompt_tokens, strict=True):
            row.close()
            job.finish(
                Generation(
                    row.text,
                    prompt,
                    row.completion_tokens,
                    "length" if row.finish_reason == "length" else "stop",
                )
            )

    def info(self) -> dict[str, Any]:
        return {
            **super().info(),
            "model_path": str(self.model_path),
            "device": self.device,
            "dtype": self.dtype if self.model is None else str(self.model.dtype),
            "max_batch_size": self.max_batch_size,
            "batch_wait_ms": self.batch_wait_ms,
            **self.versions,
            **self._batcher.stats(),
        }

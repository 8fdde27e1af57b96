"""The Jinja2 environments for the package's templates (``templates/``)."""

from __future__ import annotations

from functools import lru_cache

from jinja2 import PackageLoader, StrictUndefined
from jinja2.sandbox import SandboxedEnvironment

from vlmhb.reporting.tables import render_markdown


@lru_cache(maxsize=2)
def environment(html: bool) -> SandboxedEnvironment:
    """HTML templates autoescape every value; Markdown ones get the ``md`` table filter.
    Sandboxed like prompt templates: the values rendered come from model answers and
    configs, and no template needs Python internals."""
    env = SandboxedEnvironment(
        loader=PackageLoader("vlmhb.reporting", "templates"),
        autoescape=html,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["md"] = render_markdown
    return env

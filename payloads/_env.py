"""The shared Jinja2 environment: strict, deterministic, autoescaping only XML templates."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2

TEMPLATES = Path(__file__).parent / "templates"


def _autoescape(name: str | None) -> bool:
    return name is not None and name.endswith(".xml.j2")


ENV = jinja2.Environment(
    loader=jinja2.FileSystemLoader(str(TEMPLATES)),
    undefined=jinja2.StrictUndefined,
    autoescape=_autoescape,
    keep_trailing_newline=True,
    trim_blocks=True,
    lstrip_blocks=True,
    auto_reload=False,
)

_compiled: dict[str, jinja2.Template] = {}


def render(template: str, **ctx: Any) -> str:
    """Render ``templates/<template>`` (compiled once per process)."""
    t = _compiled.get(template)
    if t is None:
        t = _compiled[template] = ENV.get_template(template)
    return t.render(**ctx)

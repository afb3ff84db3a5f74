"""The ``docs`` config section: link pattern, staleness thresholds and size caps.

```yaml
docs:
  enabled: true                 # index TechDocs on every sync
  url_pattern: "{backstage}/docs/{namespace}/{kind}/{name}/{page}/#{anchor}"
  stale_days: 180               # docs untouched this long are stale
  behind_code_days: 90          # ... or this far behind the code next to them
  max_page_kb: 1024             # a longer page is indexed up to this size, with a warning
  max_pages: 2000               # pages per site
```

Without ``url_pattern``, links use Backstage's TechDocs shape when ``backstage.url`` is set,
else the repository's web URL (``backstage.io/source-location`` or ``github.com/project-slug``).
Placeholders: ``{backstage}``, ``{namespace}``, ``{kind}``, ``{name}`` (lower-cased, as TechDocs
stores them), ``{page}`` (the MkDocs page URL: ``runbook``, ``guides/setup``, empty for the
home page), ``{path}`` (the Markdown file inside the docs folder) and ``{anchor}``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.config import Section

PLACEHOLDERS = ("backstage", "namespace", "kind", "name", "page", "path", "anchor")
BACKSTAGE_PATTERN = "{backstage}/docs/{namespace}/{kind}/{name}/{page}/#{anchor}"
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")


@dataclass(frozen=True)
class DocsSettings:
    """How docs are indexed and linked."""

    enabled: bool = True
    url_pattern: str | None = None
    stale_days: int = 180
    behind_code_days: int = 90
    max_page_kb: int = 1024
    max_pages: int = 2000

    @property
    def max_page_bytes(self) -> int:
        return self.max_page_kb * 1024


def parse_docs_settings(sec: Section) -> DocsSettings:
    """Read the ``docs`` section (defaults when it is absent)."""
    pattern = sec.str("url_pattern")
    if pattern is not None:
        unknown = [p for p in _PLACEHOLDER.findall(pattern) if p not in PLACEHOLDERS]
        if unknown:
            known = ", ".join("{" + p + "}" for p in PLACEHOLDERS)
            raise sec.error(
                "url_pattern", f"uses unknown placeholder {{{unknown[0]}}} (known: {known})"
            )
    return DocsSettings(
        enabled=sec.bool("enabled", True),
        url_pattern=pattern or None,
        stale_days=sec.int("stale_days", 180, minimum=1),
        behind_code_days=sec.int("behind_code_days", 90, minimum=1),
        max_page_kb=sec.int("max_page_kb", 1024, minimum=1),
        max_pages=sec.int("max_pages", 2000, minimum=1),
    )

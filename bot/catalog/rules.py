"""Which kinds a catalog may hold: Backstage's ``catalog.rules`` and its opt-in model layers.

Backstage refuses an entity whose kind its rules do not allow for the location it came from
(``NotAllowedError``, which fails the Location step that read it: see ``bot.catalog.fidelity``),
and knows the AiResource kind and the schema of ``mcp-server`` APIs only when their model-layer
modules are installed. Callboard applies the same rules, from ``catalog.rules`` (global) and a
source's own ``rules`` (added to the global ones, as a location's rules are in Backstage).

Where Callboard's defaults differ from a bare Backstage: with no ``rules`` configured, every
built-in kind is allowed. Backstage's own default (Component, API and Location only) would turn
away the Groups and Users that ownership answers are made of; the Backstage app template, and
nearly every real app-config, allows more. Teams that want Backstage's exact behaviour copy
their app-config's ``rules``. The model layers are off by default, as in Backstage.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field

from bot.catalog.candidates import Candidate

BUILTIN_KINDS = (
    "Component",
    "API",
    "Resource",
    "System",
    "Domain",
    "Group",
    "User",
    "Location",
    "Template",
)
MODEL_LAYERS = {
    "ai-resource": "the AiResource kind (@backstage/plugin-catalog-backend-module-ai-model)",
    "mcp-server": "APIs of type mcp-server with `remotes` and no `definition`",
}
NOT_ALLOWED = "NotAllowedError: "
"""How a refusal by the rules starts (it fails the Location step that read the entity)."""


@dataclass(frozen=True)
class CatalogRules:
    """Allowed kinds (lower-cased; None: every kind), per source additions, model layers."""

    allow: frozenset[str] | None = None
    per_source: Mapping[str, frozenset[str]] = field(default_factory=dict)
    model_layers: frozenset[str] = frozenset()

    def refusal(self, source: str, cand: Candidate) -> str | None:
        """Why ``cand`` may not be stored from ``source`` (Backstage's words), or None."""
        if self.allow is not None:
            allowed = self.allow | self.per_source.get(source, frozenset())
            if cand.kind not in allowed:
                return (
                    f"{NOT_ALLOWED}Entity {cand.ref} at {cand.file} is not of an allowed kind "
                    f"for that location (catalog.rules allow {', '.join(sorted(allowed))})"
                )
        if cand.kind == "airesource" and "ai-resource" not in self.model_layers:
            return (
                f"No processor recognized the entity {cand.ref} as valid, possibly caused by a "
                "foreign kind or apiVersion (AiResource needs catalog.model_layers: "
                "[ai-resource])"
            )
        if (
            cand.kind == "api"
            and cand.spec_type == "mcp-server"
            and "mcp-server" not in self.model_layers
            and "definition" not in json.loads(cand.data).get("spec", {})
        ):
            return (
                '"spec.definition" is required for kind API (an mcp-server API without one '
                "needs catalog.model_layers: [mcp-server])"
            )
        return None

    def apply(
        self, source: str, candidates: list[Candidate]
    ) -> tuple[list[Candidate], list[tuple[Candidate, str]]]:
        """The candidates the rules allow, and the refused ones with the reason."""
        kept: list[Candidate] = []
        refused: list[tuple[Candidate, str]] = []
        for cand in candidates:
            reason = self.refusal(source, cand)
            if reason is None:
                kept.append(cand)
            else:
                refused.append((cand, reason))
        return kept, refused


BACKSTAGE_DEFAULT = frozenset({"component", "api", "location"})
"""What a Backstage with no ``catalog.rules`` allows."""


def catalog_rules(
    allow: frozenset[str] | None,
    per_source: Mapping[str, frozenset[str] | None],
    model_layers: frozenset[str],
) -> CatalogRules:
    """The rules from settings. No rules anywhere: every kind. Rules on a source but none
    global: the source's add to Backstage's default, as in Backstage."""
    own = {name: kinds for name, kinds in per_source.items() if kinds is not None}
    if allow is None and own:
        allow = BACKSTAGE_DEFAULT
    return CatalogRules(allow, own, model_layers)

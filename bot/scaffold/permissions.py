"""Who may scaffold which template: rules in config over catalog groups, and the requester.

- ``admins`` (the top-level config key) may scaffold every template (``bot.permissions``).
- The rules whose ``templates`` match a template decide for it: a member of one of a rule's
  ``groups`` (directly or through a sub-group) or one of its ``users`` may scaffold it.
- A template no rule names falls back to the default: any member of a catalog group.

Every refusal says which rule applied and what the catalog knows about the requester.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence

from bot.audit import Requester
from bot.catalog.model import EntityRef
from bot.catalog.read import CatalogReader
from bot.errors import CatalogError, PermissionDenied
from bot.permissions import ancestors, is_admin
from bot.scaffold.settings import PermissionRule

MAX_DEPTH = 20


def check(
    template: str,
    requester: Requester,
    rules: Sequence[PermissionRule],
    admins: Sequence[str],
    catalog: CatalogReader,
) -> str:
    """Why the requester may scaffold ``template`` (for the audit log); else PermissionDenied."""
    memberships = ancestors(catalog, requester.groups)
    member_refs = {str(g) for g in memberships}
    if is_admin(requester, memberships, admins):
        return "an admin (config: admins)"
    applying = [r for r in rules if any(fnmatch.fnmatchcase(template, p) for p in r.templates)]
    if not applying:
        if requester.user_ref is not None and requester.groups:
            return "a member of a catalog group (the default rule)"
        raise PermissionDenied(
            f"You may not scaffold {template}: only members of a catalog group may (the default "
            f"rule; scaffold.permissions can change it). {_who(requester)}"
        )
    for rule in applying:
        if requester.user_ref is not None and str(requester.user_ref) in rule.users:
            return f"listed in a scaffold.permissions rule for {template}"
        if "*" in rule.groups and requester.user_ref is not None and requester.groups:
            return f"a member of a catalog group (scaffold.permissions, {template})"
        matched = member_refs & set(rule.groups)
        if requester.user_ref is not None and matched:
            return f"a member of {_short(sorted(matched)[0])} (scaffold.permissions)"
    allowed = sorted(
        {_short(g) for r in applying for g in r.groups if g != "*"}
        | {_short(u) for r in applying for u in r.users}
    )
    whom = ", ".join(allowed) if allowed else "nobody"
    raise PermissionDenied(
        f"You may not scaffold {template}: scaffold.permissions lets only {whom} (members of "
        f"those groups or their sub-groups). {_who(requester)}"
    )


def _who(requester: Requester) -> str:
    if requester.user_ref is None:
        return requester.unknown_reason or "I could not find you in the catalog."
    if not requester.groups:
        return f"You are {requester.user_ref}, who is in no group in the catalog."
    groups = ", ".join(_short(str(g)) for g in requester.groups)
    return f"You are {requester.user_ref}, in {groups}."


def _short(ref: str) -> str:
    try:
        parsed = EntityRef.parse(ref)
    except CatalogError:
        return ref
    return parsed.short("group")

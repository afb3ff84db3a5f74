"""Who is a Callboard admin: the one check, for admin commands and the scaffolder alike.

``admins`` (the top-level config key) lists catalog groups and users (``team-platform``,
``group:default/sre``, ``user:default/ana.silva``; a bare name is a group). A requester is an
admin when their User is listed or when they are a member of a listed group, directly or
through a sub-group. The console is run by whoever operates the bot: it is always an admin
there. Every refusal says why, and how to change it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, ParamSpec, Protocol, TypeVar

from bot.audit import Requester
from bot.catalog.model import EntityRef
from bot.catalog.read import CatalogReader
from bot.chat import ChatUser
from bot.errors import CatalogError, UserError
from bot.identity import Identity

if TYPE_CHECKING:
    from bot.ports import CatalogQueries

P = ParamSpec("P")
T = TypeVar("T")


class Offload(Protocol):
    """Runs a blocking function off the event loop (``Services.offload``)."""

    async def __call__(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T: ...


MAX_DEPTH = 20
OPERATOR_PLATFORMS = frozenset({"console"})


def admin_refs(admins: Sequence[str]) -> frozenset[str]:
    """The configured admins as full refs; an entry that is not a ref matches nobody."""
    refs: set[str] = set()
    for text in admins:
        try:
            refs.add(str(EntityRef.parse(text, "group")))
        except CatalogError:
            continue
    return frozenset(refs)


def requester_groups(catalog: CatalogReader, user: EntityRef) -> tuple[EntityRef, ...]:
    """The groups a catalog User is a direct member of (blocking: run it off the loop)."""
    return tuple(sorted(set(catalog.related(user, "memberOf"))))


async def requester_for(
    user: ChatUser,
    queries: CatalogQueries,
    reader: CatalogReader,
    offload: Offload,
    config_path: object = None,
) -> Requester:
    """The chat user as permission checks and the audit log see them: their catalog User
    (``bot.identity``) and its direct groups, or why they are not known. The one home for
    admin commands, ``/page`` and the scaffolder."""
    try:
        match = await Identity(queries).catalog_user(user, config_path)
    except UserError as exc:
        return Requester(user.platform, user.id, user.name, None, (), str(exc))
    groups = await offload(requester_groups, reader, match.user.ref)
    return Requester(user.platform, user.id, user.name, match.user.ref, groups)


def ancestors(catalog: CatalogReader, groups: Iterable[EntityRef]) -> set[EntityRef]:
    """The groups and every parent above them (cycles stop the walk; blocking)."""
    seen: set[EntityRef] = set()
    todo = list(groups)
    depth = 0
    while todo and depth < MAX_DEPTH:
        next_round: list[EntityRef] = []
        for group in todo:
            if group in seen:
                continue
            seen.add(group)
            next_round.extend(catalog.related(group, "childOf"))
        todo = next_round
        depth += 1
    return seen


def is_admin(requester: Requester, memberships: Iterable[EntityRef], admins: Sequence[str]) -> bool:
    """Whether the requester's User, or a group they belong to (``memberships``: their groups
    and every parent, from ``ancestors``), is listed in ``admins``."""
    if requester.user_ref is None:
        return False
    allowed = admin_refs(admins)
    return str(requester.user_ref) in allowed or bool({str(g) for g in memberships} & allowed)


def admin_refusal(
    what: str,
    requester: Requester,
    memberships: Iterable[EntityRef],
    admins: Sequence[str],
    config: object = None,
) -> str | None:
    """Why the requester may not run ``what`` (an admin action), or None when they may."""
    if requester.platform in OPERATOR_PLATFORMS:
        return None
    where = config or "the config file"
    if not admins:
        return (
            f"Only Callboard admins may run {what}, and none are configured: list catalog "
            f"groups or users under `admins:` in {where}."
        )
    if requester.user_ref is None:
        return (
            f"Only Callboard admins may run {what}, and I cannot tell who you are in the "
            f"catalog: {requester.unknown_reason}"
        )
    if is_admin(requester, memberships, admins):
        return None
    return (
        f"Only Callboard admins may run {what}: {', '.join(admins)} (config `admins:`, "
        f"members of sub-groups included). You are {requester.user_ref}."
    )

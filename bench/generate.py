"""Generate a realistic synthetic Backstage catalog for benchmarks.

The layout mirrors a company that keeps one ``catalog-info.yaml`` per repository and its
organisation in a separate folder::

    all.yaml                          a Location: ./org/*.yaml and ./repos/*/catalog-info.yaml
    org/org.yaml                      the org Group and its department Groups
    org/domains.yaml                  one Domain per department
    org/systems.yaml                  team-owned Systems
    org/<department>.yaml             the department's team Groups and their Users
    repos/<repo>/catalog-info.yaml    a Component, often an API and/or a Resource, some a System
    repos/<repo>/mkdocs.yml, docs/    TechDocs sources, only with ``docs=True``

Everything is derived from one ``random.Random(seed)``, so a seed always gives the same bytes.
Every name, tag, label and annotation key passes Backstage's validators, and every ref that
is meant to resolve does; a few owners (one repository in 250) deliberately point at Groups
or Users that do not exist, the ownership gaps a real catalog accumulates after re-orgs.

At ``repos=20000`` the catalog has about 43,000 entities in about 15 MB of YAML, the size used
by the Backstage peer measurement in ``shared/peers/README.md``. With ``docs=True`` about a
quarter of the Components get a TechDocs site, about 100,000 Markdown sections in all.

Run ``python -m bench.generate OUT_DIR --repos N [--seed S] [--docs]``.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

API_VERSION = "backstage.io/v1alpha1"
ORG = "acme"
MAIL_DOMAIN = "acme.example.com"

# Backstage's default validators (catalog-model 1.10.1), used to check every generated value.
_NAME_RE = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_TAG_RE = re.compile(r"^[a-z0-9:+#]+(-[a-z0-9:+#]+)*$")

Entity = dict[str, Any]


@dataclass(frozen=True)
class GeneratedCatalog:
    """What :func:`generate_catalog` wrote.

    ``files`` and ``bytes`` count the catalog YAML files (``all.yaml``, ``org/*.yaml`` and
    every ``catalog-info.yaml``), not the TechDocs sources. ``entities`` counts every entity
    written, including the root Location. ``sample_names`` are Component names to look up
    in benchmarks; ``sample_groups`` are team Group names.
    """

    root: Path
    location_file: Path
    files: int
    entities: int
    bytes: int
    sample_names: tuple[str, ...]
    sample_groups: tuple[str, ...]
    kinds: tuple[tuple[str, int], ...] = ()
    """Entity count per kind, largest first."""
    ownership_gaps: tuple[str, ...] = ()
    """Refs (``component:default/x``) of the entities whose owner does not exist."""
    doc_sites: int = 0
    doc_pages: int = 0
    doc_sections: int = 0
    """Markdown headings in all pages: one search section each."""
    seconds: float = field(default=0.0, compare=False)


@dataclass(frozen=True)
class Profile:
    """How many entities of each kind one repository holds, beyond the default mix.

    The default profile (``SCALES["43k"]``) is the mix above: about two entities per
    repository. ``SCALES["1m"]`` is Spotify-like: about 50,000 repositories, each holding its
    main Component, several APIs, sub-components (Components with ``subcomponentOf``) and
    Resources, for about a million entities. Counts are uniform over ``(low, high)``, inclusive.
    """

    repos: int
    repos_per_team: int = 20
    apis: tuple[int, int] = (0, 0)  # extra APIs per repository
    subcomponents: tuple[int, int] = (0, 0)
    resources: tuple[int, int] = (0, 0)  # extra Resources per repository

    @property
    def extras(self) -> bool:
        return any(high for _low, high in (self.apis, self.subcomponents, self.resources))


SCALES: dict[str, Profile] = {
    "43k": Profile(repos=20_000),
    "1m": Profile(
        repos=50_000,
        repos_per_team=10,
        apis=(1, 6),
        subcomponents=(0, 10),
        resources=(4, 14),
    ),
}
"""``make bench SCALE=...``: the default 43k, and 1m (about 1,000,000 entities)."""


# --------------------------------------------------------------------------- word lists


def _words(text: str, sep: str | None = None) -> tuple[str, ...]:
    return tuple(text.split(sep))


_AREAS = _words(
    "payments billing checkout cart catalog pricing inventory orders shipping fulfillment "
    "returns refunds invoices identity auth accounts profiles sessions search recommendations "
    "reviews ratings messaging notifications email sms push chat media images video audio "
    "playback podcasts artists playlists ads campaigns analytics metrics reporting events audit "
    "compliance fraud risk kyc tax payroll expenses procurement vendors partners loyalty rewards "
    "coupons promotions subscriptions onboarding support tickets feedback surveys maps geo "
    "routing delivery fleet drivers warehouse supply forecasting experiments flags config "
    "secrets storage backup logging tracing alerts deploy builds portal content translations "
    "consent privacy"
)
_SERVICE_CORES = _words(
    "api service gateway worker scheduler indexer crawler router ledger store cache proxy broker "
    "sync importer exporter processor aggregator collector publisher consumer engine manager "
    "registry tracker validator resolver renderer uploader notifier dispatcher planner optimizer "
    "classifier scorer matcher monitor auditor archiver replicator migrator orchestrator "
    "pipeline adapter bridge connector bot jobs etl"
)
_WEBSITE_CORES = _words("web frontend ui portal console dashboard app admin")
_LIBRARY_CORES = _words("sdk lib client utils common models proto schemas")
_QUALIFIERS = _words("v2 internal legacy next edge batch realtime public partner mobile core")
_DEPARTMENTS = _words(
    "commerce payments identity data platform media growth logistics finance security "
    "marketplace communications infrastructure advertising risk operations mobile content "
    "customer-experience developer-experience"
)
_DEPT_QUALIFIERS = _words("core labs enterprise consumer international")
_TEAM_QUALIFIERS = _words("core platform growth infra data mobile web api ops ux bi sre")
_FIRST = _words(
    "ada alan alice amir ana andrea anna arjun ben bianca carla carlos chen chloe chris dana "
    "daniel david diego elena eli emma eric eva fatima felix fiona frank gabriel grace hana "
    "hannah hugo ian ines isaac ivan jack jamal jane jasmine javier jin joao jonas jose julia "
    "kai karen kenji kim laura leo lena liam lina lucas lucia maria mark marta mateo maya mei "
    "mia mohamed nadia naomi nina noah olga omar oscar paula pedro priya rafael raj rosa ruth "
    "sam sara sofia sven tara theo tom uma victor wei xavier yara yusuf zoe"
)
_LAST = _words(
    "adams ahmed alvarez andersen bauer becker brown castro chen costa cruz das diaz dubois "
    "edwards evans fischer fernandes garcia gomez green gupta hall hansen hernandez hoffmann "
    "ito jansen johnson kaur khan kim klein kowalski kumar larsen lee lopez martin meyer "
    "miller moreau muller murphy nakamura nguyen novak oconnor olsen park patel perez peters "
    "petrov popescu ramos reyes richter rossi russo santos schmidt schneider shah silva singh "
    "smith sorensen suzuki tanaka taylor thomas torres vargas wagner walker wang weber wilson "
    "wong yamamoto yilmaz young zhang"
)
_LANGS = _words("python java go typescript kotlin rust scala ruby")
_TECH_TAGS = _words(
    "grpc rest graphql kafka postgres mysql redis elasticsearch s3 kubernetes lambda "
    "spark airflow react nextjs spring django fastapi pci gdpr tier-1"
)
_VERBS = _words(
    "handles|computes|stores|serves|validates|publishes|reconciles|indexes|schedules|exports",
    sep="|",
)
_THINGS = _words(
    "requests|records|events|reports|updates|lookups|snapshots|jobs|notifications|batches",
    sep="|",
)
_AUDIENCES = _words(
    "the web shop|mobile apps|partner integrations|internal tools|the data platform|"
    "customer support|the finance team|all storefronts",
    sep="|",
)
_RESOURCE_TYPES = (
    ("database", "db", "PostgreSQL database"),
    ("database", "mysql", "MySQL database"),
    ("queue", "queue", "Kafka topic"),
    ("queue", "events", "SQS queue"),
    ("bucket", "bucket", "S3 bucket"),
    ("cache", "cache", "Redis cluster"),
    ("search-index", "index", "Elasticsearch index"),
)
_API_TYPES = (("openapi", 70), ("grpc", 15), ("asyncapi", 10), ("graphql", 5))
_API_LABELS = {
    "openapi": "REST API",
    "grpc": "gRPC API",
    "asyncapi": "Event stream",
    "graphql": "GraphQL API",
}
_SYSTEM_WORDS = _words("platform suite hub stack core network")
_GONE_TEAMS = _words("legacy sunset old archived reorg")
_DOC_PAGES = (
    ("Getting started", "getting-started"),
    ("Architecture", "architecture"),
    ("Runbook", "runbook"),
    ("API reference", "api-reference"),
    ("Deployment", "deployment"),
    ("Troubleshooting", "troubleshooting"),
    ("FAQ", "faq"),
    ("Decisions", "decisions"),
    ("Data model", "data-model"),
    ("Monitoring", "monitoring"),
)
_DOC_HEADINGS = _words(
    "Overview|Prerequisites|Local setup|Configuration|Environment variables|Running the tests|"
    "Release process|Rolling back|Rotating credentials|Database migrations|Scaling|Alerts|"
    "Dashboards|On-call checklist|Known issues|Error codes|Rate limits|Authentication|"
    "Pagination|Versioning|Dependencies|Data retention|Backups and restore|Feature flags|"
    "Capacity planning|Incident history|Contact|Glossary|Ownership|Service level objectives",
    sep="|",
)
_DOC_SENTENCES = (
    "Requests to {name} go through the shared gateway and are authenticated by the identity "
    "service.",
    "The on-call engineer of {team} gets every page from {name}; escalate to the department "
    "lead after {n} minutes.",
    "Configuration lives under `config/` and is read at start-up, so changes need a redeploy.",
    "Before rolling back, check the migration log: schema changes in {name} are forward-only.",
    "Credentials live in the secrets manager and are rotated every {n} days by a scheduled job.",
    "A p99 latency above {n}0 ms for ten minutes raises a warning in the {area} dashboard.",
    "{name} publishes {thing} to the shared event bus; consumers must tolerate duplicates.",
    "Reproduce issues in staging: production {area} data is never copied there.",
    "The service scales horizontally and the autoscaler keeps CPU below {n}0 percent.",
    "Feature flags gate every new endpoint until {team} signs off.",
    "Nightly backups of the {area} {thing} are kept for {n}0 days; restores are rehearsed "
    "quarterly.",
    "Clients may send {n}0 requests per second, with bursts of up to three times that.",
    "The {area} {thing} are partitioned by tenant, which keeps hot tenants from starving others.",
    "Run `make test` before opening a pull request; CI runs the same target.",
    "Most incidents so far came from an expired certificate or a full disk on the workers.",
    "Error code {n}04 means the upstream {area} service timed out; retry with backoff.",
    "Dashboards for {name} are in Grafana under the {team} folder.",
    "Deploys go out through the standard pipeline: canary first, then {n}0 percent, then all.",
    "Pagination uses opaque cursors; never build them by hand.",
    "Data older than {n} months is archived to cold storage and deleted after seven years.",
    "Ask in the #{team} channel before changing a shared schema.",
    "The {thing} API is versioned in the URL; version 1 is deprecated and will be removed.",
    "Local setup needs Docker, make and the {area} test fixtures from the shared bucket.",
    "Alerts route to PagerDuty; low-urgency ones open a ticket for {team} instead.",
)


# --------------------------------------------------------------------------- planning


@dataclass
class _Team:
    name: str
    dept: str
    display: str
    users: list[str] = field(default_factory=list)
    systems: list[str] = field(default_factory=list)
    weight: float = 1.0


@dataclass
class _Repo:
    name: str
    team: _Team
    ctype: str
    lifecycle: str
    owner: str
    system: str | None
    api: tuple[str, str] | None = None  # (name, type)
    resource: tuple[str, str, str] | None = None  # (name, type, description)
    extra: tuple[str, str, bool] | None = None  # (name, type, subcomponentOf main)
    repo_system: str | None = None
    docs: bool = False
    gap: bool = False
    more: list[tuple[str, str, str]] = field(default_factory=list)  # (kind, name, type) extras


class _Names:
    """Unique names, with a numeric suffix once the candidates run out."""

    def __init__(self) -> None:
        self.used: dict[str, None] = {}

    def take(self, candidates: Sequence[str], rng: random.Random, tries: int = 40) -> str:
        name = candidates[0]
        for _ in range(tries):
            name = rng.choice(candidates)
            if name not in self.used:
                return self._add(name)
        base, n = name, 2
        while f"{base}-{n}" in self.used:
            n += 1
        return self._add(f"{base}-{n}")

    def _add(self, name: str) -> str:
        if len(name) > 63 or not _NAME_RE.match(name):
            raise ValueError(f"generated an invalid entity name: {name!r}")
        self.used[name] = None
        return name


def _title(name: str) -> str:
    return " ".join(part.capitalize() for part in name.split("-"))


def _pick_weighted(rng: random.Random, options: Sequence[tuple[str, int]]) -> str:
    return rng.choices([o for o, _ in options], [w for _, w in options])[0]


def _pagerduty_id(rng: random.Random) -> str:
    return "P" + "".join(rng.choices("ABCDEFGHJKLMNPQRSTUVWXYZ0123456789", k=6))


# --------------------------------------------------------------------------- YAML output


try:  # libyaml's emitter is several times faster than the pure-Python one
    from yaml import CSafeDumper as _BaseDumper
except ImportError:  # pragma: no cover
    from yaml import SafeDumper as _BaseDumper  # type: ignore[assignment]


class _Dumper(_BaseDumper):
    def ignore_aliases(self, data: Any) -> bool:
        return True


class _Flow(list[str]):
    """A list written in flow style: ``[a, b]``."""


def _represent_flow(dumper: _Dumper, data: _Flow) -> yaml.Node:
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=True)


def _represent_str(dumper: _Dumper, data: str) -> yaml.Node:
    style = "|" if "\n" in data else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_Dumper.add_representer(str, _represent_str)
_Dumper.add_representer(_Flow, _represent_flow)


def _dump(docs: Sequence[Entity]) -> str:
    return yaml.dump_all(
        docs, Dumper=_Dumper, sort_keys=False, width=100, allow_unicode=True, indent=2
    )


_PLAIN_RE = re.compile(r"^[A-Za-z_/][A-Za-z0-9 ._/@#+(),'-]*$")
_NOT_PLAIN = frozenset(("y", "yes", "n", "no", "true", "false", "on", "off", "null", "~"))


def _scalar(text: str) -> str:
    """A string as YAML: plain when nothing could read it as another type, else JSON-quoted
    (a JSON string is a valid double-quoted YAML scalar)."""
    if (
        _PLAIN_RE.match(text)
        and text.lower() not in _NOT_PLAIN
        and not text.endswith((" ", ":"))
        and ": " not in text
        and " #" not in text
    ):
        return text
    return json.dumps(text)


def _emit(value: Any, indent: str, out: list[str]) -> None:
    """Block-style YAML of a mapping's entries, as ``_dump`` writes it, without PyYAML's
    pure-Python representer (most of the time of writing a million entities)."""
    for key, item in value.items():
        if isinstance(item, dict):
            out.append(f"{indent}{key}:\n")
            _emit(item, indent + "  ", out)
        elif isinstance(item, _Flow):
            out.append(f"{indent}{key}: [{', '.join(_scalar(i) for i in item)}]\n")
        elif isinstance(item, list):
            if not item:
                out.append(f"{indent}{key}: []\n")
                continue
            out.append(f"{indent}{key}:\n")
            for element in item:
                if isinstance(element, dict):
                    lines: list[str] = []
                    _emit(element, indent + "    ", lines)
                    lines[0] = f"{indent}  - " + lines[0].lstrip()
                    out.extend(lines)
                else:
                    out.append(f"{indent}  - {_scalar(element)}\n")
        elif isinstance(item, str) and "\n" in item:
            body = "".join(f"{indent}  {line}\n" for line in item.splitlines())
            out.append(f"{indent}{key}: |\n{body}")
        else:
            out.append(f"{indent}{key}: {_scalar(str(item))}\n")


def _fast_dump(docs: Sequence[Entity]) -> str:
    out: list[str] = []
    for doc in docs:
        out.append("---\n")
        _emit(doc, "", out)
    return "".join(out)


class _Writer:
    def __init__(self, root: Path, fast: bool = False) -> None:
        self.root = root
        self.fast = fast  # write with ``_fast_dump`` (the 1m profile)
        self.files = 0
        self.bytes = 0
        self.kinds: Counter[str] = Counter()

    def write(self, rel: str, docs: Sequence[Entity]) -> None:
        data = (_fast_dump(docs) if self.fast else _dump(docs)).encode("utf-8")
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        self.files += 1
        self.bytes += len(data)
        self.kinds.update(doc["kind"] for doc in docs)


def _entity(kind: str, metadata: Entity, spec: Entity) -> Entity:
    for tag in metadata.get("tags", ()):
        if not _TAG_RE.match(tag):
            raise ValueError(f"generated an invalid tag: {tag!r}")
    return {"apiVersion": API_VERSION, "kind": kind, "metadata": metadata, "spec": spec}


# --------------------------------------------------------------------------- generator


def generate_catalog(
    root: Path,
    repos: int,
    seed: int = 42,
    *,
    docs: bool = False,
    profile: Profile | None = None,
) -> GeneratedCatalog:
    """Write a synthetic catalog of ``repos`` repositories under ``root`` (which must be
    absent or empty) and return what was written. Deterministic for a given seed; ``docs``
    adds TechDocs sources without changing any catalog file; ``profile`` (default: the 43k
    mix) sets the entities per repository and repositories per team."""
    profile = profile or SCALES["43k"]
    if repos < 1:
        raise ValueError("repos must be at least 1")
    root = Path(root)
    if root.exists() and any(root.iterdir()):
        raise FileExistsError(f"{root} is not empty")
    started = time.perf_counter()
    rng = random.Random(seed)
    names = _Names()  # Groups, Users, Domains and Systems share one name space
    writer = _Writer(root, fast=profile.extras)

    # Organisation: one org group, departments, teams (about one per 20 repos), users.
    n_teams = max(1, round(repos / profile.repos_per_team))
    n_depts = max(1, round(n_teams / 10))
    dept_candidates = [f"{d}-{q}" for d in _DEPARTMENTS for q in _DEPT_QUALIFIERS]
    depts: list[str] = []
    for i in range(n_depts):
        depts.append(names.take(_DEPARTMENTS if i < len(_DEPARTMENTS) else dept_candidates, rng))
    team_candidates = [f"team-{a}" for a in _AREAS] + [
        f"team-{a}-{q}" for a in _AREAS for q in _TEAM_QUALIFIERS
    ]
    teams: list[_Team] = []
    for i in range(n_teams):
        dept = depts[i % n_depts] if i < n_depts else rng.choice(depts)
        tname = names.take(team_candidates, rng)
        team = _Team(tname, dept, _title(tname.removeprefix("team-")), weight=rng.uniform(0.3, 2))
        teams.append(team)
    people = [f"{f}.{last}" for f in _FIRST for last in _LAST]
    user_team: dict[str, list[str]] = {}
    for team in teams:
        for _ in range(rng.randint(3, 8)):
            user = names.take(people, rng)
            team.users.append(user)
            user_team[user] = [team.name]
    users = list(user_team)
    for user in rng.sample(users, len(users) // 20):  # some people sit in two teams
        other = rng.choice(teams).name
        if other not in user_team[user]:
            user_team[user].append(other)

    # Org-level systems: about one for every second team, in its department's domain.
    for team in teams:
        if rng.random() < 0.5:
            word = team.name.removeprefix("team-").split("-")[0]
            team.systems.append(names.take([f"{word}-{w}" for w in _SYSTEM_WORDS], rng))

    # Repositories.
    repo_names = _Names()  # Components, APIs and Resources
    planned: list[_Repo] = []
    weights = [t.weight for t in teams]
    for _ in range(repos):
        team = rng.choices(teams, weights)[0]
        ctype = _pick_weighted(rng, (("service", 63), ("website", 15), ("library", 22)))
        cores = {"service": _SERVICE_CORES, "website": _WEBSITE_CORES}.get(ctype, _LIBRARY_CORES)
        area, core = rng.choice(_AREAS), rng.choice(cores)
        options = [f"{area}-{core}"] + [f"{area}-{q}-{core}" for q in _QUALIFIERS]
        if rng.random() < 0.7 and f"{area}-{core}" not in repo_names.used:
            options = options[:1]
        name = repo_names.take(options, rng)
        lifecycle = _pick_weighted(
            rng, (("production", 62), ("experimental", 23), ("deprecated", 15))
        )
        owner = team.name
        if rng.random() < 0.05:
            owner = "user:" + rng.choice(team.users)
        system: str | None = None
        if team.systems and rng.random() < 0.75:
            system = rng.choice(team.systems)
        elif rng.random() < 0.3:
            sibling = [t for t in rng.sample(teams, min(4, len(teams))) if t.systems]
            system = sibling[0].systems[0] if sibling else None
        repo = _Repo(name, team, ctype, lifecycle, owner, system)
        if ctype != "library" and rng.random() < 0.45:
            api_type = _pick_weighted(rng, _API_TYPES)
            suffix = {"asyncapi": "events", "grpc": "grpc", "graphql": "graphql"}.get(
                api_type, "api"
            )
            repo.api = (repo_names.take([f"{name}-{suffix}"], rng), api_type)
        if ctype == "service" and rng.random() < 0.6:
            rtype, rsuffix, rdesc = rng.choice(_RESOURCE_TYPES)
            repo.resource = (repo_names.take([f"{name}-{rsuffix}"], rng), rtype, rdesc)
        if ctype != "library" and rng.random() < 0.05:
            etype, esuffix = rng.choice(
                (("service", "worker"), ("website", "ui"), ("service", "cron"))
            )
            repo.extra = (repo_names.take([f"{name}-{esuffix}"], rng), etype, rng.random() < 0.4)
        if rng.random() < 0.01:
            repo.repo_system = names.take([f"{name}-system"], rng)
            repo.system = repo.repo_system
        repo.docs = rng.random() < (0.3 if ctype != "library" else 0.1)
        if profile.extras:
            repo.more = _plan_more(repo, rng, repo_names, profile)
        planned.append(repo)

    # Ownership gaps: owners that no Group or User carries.
    gaps: list[str] = []
    for repo in rng.sample(planned, max(1 if repos >= 20 else 0, repos // 250)):
        if rng.random() < 0.7:
            gone = f"team-{repo.team.name.removeprefix('team-')}-{rng.choice(_GONE_TEAMS)}"
            repo.owner = gone if gone not in names.used else gone + "-x"
        else:
            person = f"{rng.choice(_FIRST)}.{rng.choice(_LAST)}-former"
            repo.owner = "user:" + person
        repo.gap = True
        gaps.append(f"component:default/{repo.name}")

    apis = [r.api[0] for r in planned if r.api]
    apis += [name for r in planned for kind, name, _t in r.more if kind == "API"]
    libraries = [r.name for r in planned if r.ctype == "library"]
    resources = [r.resource[0] for r in planned if r.resource]

    # --- write the organisation
    org_docs: list[Entity] = [
        _entity(
            "Group",
            {"name": ORG, "title": "ACME Corp", "description": "The whole company"},
            {
                "type": "organization",
                "profile": {"displayName": "ACME Corp", "email": f"info@{MAIL_DOMAIN}"},
                "children": list(depts),
            },
        )
    ]
    for dept in depts:
        org_docs.append(
            _entity(
                "Group",
                {"name": dept, "description": f"The {_title(dept)} department"},
                {
                    "type": "department",
                    "profile": {"displayName": _title(dept), "email": f"{dept}@{MAIL_DOMAIN}"},
                    "parent": ORG,
                    "children": [t.name for t in teams if t.dept == dept],
                },
            )
        )
    writer.write("org/org.yaml", org_docs)

    domain_docs = [
        _entity(
            "Domain",
            {"name": dept, "description": f"Everything the {_title(dept)} department runs"},
            {"owner": dept},
        )
        for dept in depts
    ]
    writer.write("org/domains.yaml", domain_docs)

    system_docs = []
    for team in teams:
        for system in team.systems:
            system_docs.append(
                _entity(
                    "System",
                    {
                        "name": system,
                        "title": _title(system),
                        "description": f"{_title(system)}: the {team.display} team's services",
                        "tags": [team.dept.split("-")[0]],
                    },
                    {"owner": team.name, "domain": team.dept},
                )
            )
    if system_docs:
        writer.write("org/systems.yaml", system_docs)

    for dept in depts:
        dept_docs: list[Entity] = []
        for team in (t for t in teams if t.dept == dept):
            dept_docs.append(
                _entity(
                    "Group",
                    {
                        "name": team.name,
                        "description": f"The {team.display} team",
                        "annotations": {"github.com/team-slug": f"{ORG}/{team.name}"},
                        "links": [
                            {
                                "url": f"https://{ORG}.slack.com/app_redirect?channel={team.name}",
                                "title": f"#{team.name}",
                                "icon": "chat",
                            }
                        ],
                    },
                    {
                        "type": "team",
                        "profile": {
                            "displayName": team.display,
                            "email": f"{team.name}@{MAIL_DOMAIN}",
                        },
                        "parent": dept,
                        "children": [],
                    },
                )
            )
            for user in team.users:
                first, last = user.split(".", 1)
                dept_docs.append(
                    _entity(
                        "User",
                        {"name": user},
                        {
                            "profile": {
                                "displayName": f"{first.capitalize()} {last.capitalize()}",
                                "email": f"{user}@{MAIL_DOMAIN}",
                            },
                            "memberOf": list(user_team[user]),
                        },
                    )
                )
        writer.write(f"org/{dept}.yaml", dept_docs)

    # --- write the repositories
    docs_rng = random.Random(seed * 7919 + 1)
    doc_sites = doc_pages = doc_sections = 0
    for repo in planned:
        repo_docs = _repo_entities(repo, rng, apis, libraries, resources)
        writer.write(f"repos/{repo.name}/catalog-info.yaml", repo_docs)
        if docs and repo.docs:
            pages, sections = _write_docs(root / "repos" / repo.name, repo, docs_rng)
            doc_sites += 1
            doc_pages += pages
            doc_sections += sections

    location = _entity(
        "Location",
        {"name": "generated-catalog", "description": f"Synthetic catalog, {repos} repositories"},
        {"targets": ["./org/*.yaml", "./repos/*/catalog-info.yaml"]},
    )
    writer.write("all.yaml", [location])

    mains = [r.name for r in planned if not r.gap]
    sample_names = tuple(rng.sample(mains, min(25, len(mains))))
    sample_groups = tuple(t.name for t in rng.sample(teams, min(10, len(teams))))
    return GeneratedCatalog(
        root=root,
        location_file=root / "all.yaml",
        files=writer.files,
        entities=sum(writer.kinds.values()),
        bytes=writer.bytes,
        sample_names=sample_names,
        sample_groups=sample_groups,
        kinds=tuple(writer.kinds.most_common()),
        ownership_gaps=tuple(gaps),
        doc_sites=doc_sites,
        doc_pages=doc_pages,
        doc_sections=doc_sections,
        seconds=time.perf_counter() - started,
    )


def _repo_entities(
    repo: _Repo,
    rng: random.Random,
    apis: Sequence[str],
    libraries: Sequence[str],
    resources: Sequence[str],
) -> list[Entity]:
    name, team = repo.name, repo.team
    slug = f"{ORG}/{name}"
    source = f"url:https://github.com/{slug}/tree/main/"
    area = name.split("-")[0]
    verb = rng.choice(_VERBS).capitalize()
    desc = f"{verb} {area} {rng.choice(_THINGS)}"
    desc += f" for {rng.choice(_AUDIENCES)}." if rng.random() < 0.3 else "."
    tags = [rng.choice(_LANGS), *rng.sample(_TECH_TAGS, rng.choice((0, 0, 1, 1, 2)))]
    annotations = {"github.com/project-slug": slug}
    if rng.random() < 0.1:
        annotations["backstage.io/source-location"] = source
    production = repo.lifecycle == "production" and repo.ctype != "library"
    if production:
        annotations["pagerduty.com/service-id"] = _pagerduty_id(rng)
    if repo.docs:
        annotations["backstage.io/techdocs-ref"] = "dir:."
    if repo.ctype == "service" and rng.random() < 0.1:
        annotations["backstage.io/kubernetes-id"] = name
    if rng.random() < 0.05:
        annotations["sonarqube.org/project-key"] = f"{ORG}_{name}"
    metadata: Entity = {"name": name}
    if rng.random() < 0.1:
        metadata["title"] = _title(name)
    metadata["description"] = desc
    if production and rng.random() < 0.3:
        metadata["labels"] = {"tier": rng.choice(("tier-1", "tier-2", "tier-3"))}
    metadata["annotations"] = annotations
    metadata["tags"] = _Flow(tags)  # tags: [python, grpc], the way most people write them
    links = []
    if production and rng.random() < 0.15:
        links.append(
            {"url": f"https://runbooks.{MAIL_DOMAIN}/{name}", "title": "Runbook", "icon": "docs"}
        )
    if repo.ctype != "library" and rng.random() < 0.08:
        board = "".join(rng.choices("abcdefghijklmnopqrstuvwxyz0123456789", k=9))
        links.append(
            {
                "url": f"https://grafana.{MAIL_DOMAIN}/d/{board}/{name}",
                "title": "Dashboard",
                "icon": "dashboard",
            }
        )
    if links:
        metadata["links"] = links

    # some authors write [a, b], others one item per line
    seq: type[list[str]] = _Flow if rng.random() < 0.5 else list
    spec: Entity = {"type": repo.ctype, "lifecycle": repo.lifecycle, "owner": repo.owner}
    if repo.system:
        spec["system"] = repo.system
    provided = ([repo.api[0]] if repo.api else []) + [n for k, n, _t in repo.more if k == "API"]
    if provided:
        spec["providesApis"] = seq(provided)
    if repo.ctype != "library" and apis and rng.random() < 0.4:
        consumed = rng.sample(apis, min(len(apis), rng.choice((1, 1, 2))))
        consumed = [a for a in consumed if not repo.api or a != repo.api[0]]
        if consumed:
            spec["consumesApis"] = seq(consumed)
    depends = []
    if repo.resource:
        depends.append(f"resource:{repo.resource[0]}")
    if resources and rng.random() < 0.05:
        depends.append(f"resource:{rng.choice(resources)}")
    if libraries and rng.random() < 0.25:
        for lib in rng.sample(libraries, min(len(libraries), rng.choice((1, 1, 2)))):
            if lib != name:
                depends.append(f"component:{lib}")
    if depends:
        spec["dependsOn"] = seq(dict.fromkeys(depends))
    entities = [_entity("Component", metadata, spec)]

    owner = repo.team.name if repo.gap else repo.owner  # gaps are on the main Component only
    if repo.extra:
        ename, etype, sub = repo.extra
        espec: Entity = {"type": etype, "lifecycle": repo.lifecycle, "owner": owner}
        if sub:
            espec["subcomponentOf"] = name
        elif repo.system:
            espec["system"] = repo.system
        if repo.resource:
            espec["dependsOn"] = [f"resource:{repo.resource[0]}"]
        role = "Background worker" if etype == "service" else "Admin UI"
        entities.append(
            _entity(
                "Component",
                {
                    "name": ename,
                    "description": f"{role} of {name}",
                    "annotations": {"github.com/project-slug": slug},
                    "tags": tags[:1],
                },
                espec,
            )
        )
    if repo.api:
        aname, atype = repo.api
        aspec: Entity = {"type": atype, "lifecycle": repo.lifecycle, "owner": owner}
        if repo.system:
            aspec["system"] = repo.system
        aspec["definition"] = _api_definition(aname, atype, area, rng)
        ameta: Entity = {"name": aname, "description": f"{_API_LABELS[atype]} of {name}"}
        if rng.random() < 0.5:
            ameta["annotations"] = {"github.com/project-slug": slug}
        ameta["tags"] = [{"openapi": "rest"}.get(atype, atype)]
        entities.append(_entity("API", ameta, aspec))
    if repo.resource:
        rname, rtype, rdesc = repo.resource
        rspec: Entity = {"type": rtype, "owner": owner}
        if repo.system:
            rspec["system"] = repo.system
        entities.append(
            _entity("Resource", {"name": rname, "description": f"{rdesc} of {name}"}, rspec)
        )
    if repo.repo_system:
        entities.append(
            _entity(
                "System",
                {
                    "name": repo.repo_system,
                    "description": f"Everything that ships from the {name} repository",
                },
                {"owner": team.name, "domain": team.dept},
            )
        )
    if repo.more:
        entities += _more_entities(repo, rng, owner, tags[:1], apis)
    return entities


_SUB_TYPES = (("service", 50), ("library", 30), ("website", 20))
_SUB_ROLES = {"service": "Service", "library": "Library", "website": "Web UI"}


def _plan_more(repo: _Repo, rng: random.Random, names: _Names, profile: Profile) -> list[Any]:
    """The extra APIs, sub-components and Resources of one repository (the 1m profile)."""
    more: list[tuple[str, str, str]] = []
    things = [t.removesuffix("es" if t.endswith("ches") else "s") for t in _THINGS]
    for _ in range(rng.randint(*profile.apis)):
        atype = _pick_weighted(rng, _API_TYPES)
        suffix = {"asyncapi": "events", "grpc": "grpc", "graphql": "graphql"}.get(atype, "api")
        aname = names.take([f"{repo.name}-{t}-{suffix}" for t in things], rng)
        more.append(("API", aname, atype))
    for _ in range(rng.randint(*profile.subcomponents)):
        stype = _pick_weighted(rng, _SUB_TYPES)
        core = rng.choice(_SERVICE_CORES if stype == "service" else _LIBRARY_CORES)
        more.append(("Component", names.take([f"{repo.name}-{core}"], rng), stype))
    for _ in range(rng.randint(*profile.resources)):
        rtype, rsuffix, _desc = rng.choice(_RESOURCE_TYPES)
        rname = names.take([f"{repo.name}-{t}-{rsuffix}" for t in things], rng)
        more.append(("Resource", rname, rtype))
    return more


def _more_entities(
    repo: _Repo, rng: random.Random, owner: str, tags: list[str], apis: Sequence[str]
) -> list[Entity]:
    """The documents of ``repo.more``: sub-components of the main Component, each of its
    extra APIs and Resources, tied together by ``subcomponentOf``, ``providesApis``,
    ``consumesApis`` and ``dependsOn``."""
    name, slug = repo.name, f"{ORG}/{repo.name}"
    area = name.split("-")[0]
    resources = [n for kind, n, _t in repo.more if kind == "Resource"]
    out: list[Entity] = []
    for kind, ename, etype in repo.more:
        if kind == "API":
            spec: Entity = {"type": etype, "lifecycle": repo.lifecycle, "owner": owner}
            if repo.system:
                spec["system"] = repo.system
            spec["definition"] = _api_definition(ename, etype, area, rng)
            meta: Entity = {"name": ename, "description": f"{_API_LABELS[etype]} of {name}"}
            meta["tags"] = [{"openapi": "rest"}.get(etype, etype)]
            out.append(_entity("API", meta, spec))
        elif kind == "Component":
            spec = {
                "type": etype,
                "lifecycle": repo.lifecycle,
                "owner": owner,
                "subcomponentOf": name,
            }
            if resources and rng.random() < 0.5:
                spec["dependsOn"] = [f"resource:{rng.choice(resources)}"]
            if apis and etype != "library" and rng.random() < 0.2:
                spec["consumesApis"] = [rng.choice(apis)]
            meta = {
                "name": ename,
                "description": f"{_SUB_ROLES[etype]} of {name}: {rng.choice(_THINGS)}",
                "annotations": {"github.com/project-slug": slug},
                "tags": list(tags),
            }
            out.append(_entity("Component", meta, spec))
        else:
            desc = next(d for t, _s, d in _RESOURCE_TYPES if t == etype)
            spec = {"type": etype, "owner": owner}
            if repo.system:
                spec["system"] = repo.system
            meta = {"name": ename, "description": f"{desc} of {name}"}
            out.append(_entity("Resource", meta, spec))
    return out


def _api_definition(name: str, atype: str, area: str, rng: random.Random) -> str:
    version = f"{rng.randint(1, 4)}.{rng.randint(0, 12)}.{rng.randint(0, 9)}"
    thing = rng.choice(_THINGS)
    if atype == "openapi":
        info = f"{{title: {name}, version: {version}}}"
        return f"openapi: 3.0.3\ninfo: {info}\npaths: {{/{thing}: {{}}}}\n"
    if atype == "grpc":
        svc = "".join(p.capitalize() for p in name.split("-")[:-1])
        reply = thing.capitalize()
        return f'syntax = "proto3";\nservice {svc} {{ rpc Get(Req) returns ({reply}); }}\n'
    if atype == "asyncapi":
        return (
            f"asyncapi: 2.6.0\ninfo: {{title: {name}, version: {version}}}\n"
            f"channels: {{{area}.{thing}: {{subscribe: {{message: {{name: {thing}}}}}}}}}\n"
        )
    return f"type Query {{ {thing}(first: Int): [{area.capitalize()}!]! }}\n"


def _write_docs(repo_dir: Path, repo: _Repo, rng: random.Random) -> tuple[int, int]:
    """Write mkdocs.yml and docs/*.md; return (pages, headings)."""
    chosen = rng.sample(_DOC_PAGES, rng.randint(1, 5))
    nav: list[dict[str, str]] = [{"Home": "index.md"}]
    nav += [{title: f"{slug}.md"} for title, slug in chosen]
    mkdocs = {
        "site_name": repo.name,
        "site_description": f"Documentation for {repo.name}",
        "repo_url": f"https://github.com/{ORG}/{repo.name}",
        "nav": nav,
        "plugins": ["techdocs-core"],
    }
    (repo_dir / "mkdocs.yml").write_text(
        yaml.dump(mkdocs, Dumper=_Dumper, sort_keys=False), encoding="utf-8"
    )
    docs_dir = repo_dir / "docs"
    docs_dir.mkdir(exist_ok=True)
    sections = 0
    pages = [(repo.name, "index"), *chosen]
    for title, slug in pages:
        lines = [f"# {title}", "", _paragraph(repo, rng), ""]
        sections += 1
        for heading in rng.sample(_DOC_HEADINGS, rng.randint(2, 5)):
            intro = f"This section covers {heading.lower()} for {repo.name}."
            lines += [f"## {heading}", "", f"{intro} {_paragraph(repo, rng)}", ""]
            sections += 1
            if rng.random() < 0.25:
                lines += ["```bash", f"make -C {repo.name} {heading.split()[0].lower()}", "```", ""]
            if rng.random() < 0.15:
                lines += [f"### {heading} in production", "", _paragraph(repo, rng), ""]
                sections += 1
            if rng.random() < 0.2:
                lines += [f"- {s}" for s in _sentences(repo, rng, 3)] + [""]
        (docs_dir / f"{slug}.md").write_text("\n".join(lines), encoding="utf-8")
    return len(pages), sections


def _sentences(repo: _Repo, rng: random.Random, k: int) -> list[str]:
    area = repo.name.split("-")[0]
    return [
        s.format(name=repo.name, team=repo.team.name, area=area, thing=rng.choice(_THINGS), n=n)
        for s, n in zip(rng.sample(_DOC_SENTENCES, k), rng.choices(range(2, 10), k=k), strict=True)
    ]


def _paragraph(repo: _Repo, rng: random.Random) -> str:
    return " ".join(_sentences(repo, rng, rng.randint(1, 4)))


# --------------------------------------------------------------------------- CLI


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.generate", description="Generate a synthetic Backstage catalog."
    )
    parser.add_argument("out_dir", type=Path, help="output folder (absent or empty)")
    parser.add_argument("--repos", type=int, default=20000, help="repositories (default 20000)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--docs", action="store_true", help="also write TechDocs sources")
    parser.add_argument(
        "--scale", choices=sorted(SCALES), help="a profile: its repositories and mix (1m: ~1M)"
    )
    args = parser.parse_args(argv)
    profile = SCALES[args.scale] if args.scale else None
    repos = profile.repos if profile and args.repos == 20000 else args.repos
    try:
        cat = generate_catalog(args.out_dir, repos, args.seed, docs=args.docs, profile=profile)
    except (FileExistsError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    kinds = ", ".join(f"{kind} {n}" for kind, n in cat.kinds)
    print(f"location: {cat.location_file}")
    print(f"files: {cat.files}  entities: {cat.entities}  bytes: {cat.bytes}")
    print(f"kinds: {kinds}")
    print(f"ownership gaps: {len(cat.ownership_gaps)}")
    if args.docs:
        print(f"docs: {cat.doc_sites} sites, {cat.doc_pages} pages, {cat.doc_sections} sections")
    print(f"seconds: {cat.seconds:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

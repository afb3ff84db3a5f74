"""The database tables, as SQLAlchemy Core metadata (Alembic migrations create them)."""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
)

metadata = MetaData()

REF = String(320)  # kind(63) + ':' + namespace(63) + '/' + name(63), with room to spare

entities = Table(
    "entities",
    metadata,
    Column("ref", REF, primary_key=True),  # lower-cased kind:namespace/name
    Column("kind", String(63), nullable=False, index=True),  # lower-cased
    Column("namespace", String(63), nullable=False),
    Column("name", String(255), nullable=False),  # as written
    Column("title", Text),
    Column("description", Text),
    Column("owner_ref", REF, index=True),
    Column("spec_type", String(255)),
    Column("lifecycle", String(255)),
    Column("source", String(200), nullable=False, index=True),
    Column("file", Text),
    Column("line", Integer),
    Column("data", Text, nullable=False),  # the entity document as JSON
    Column("content_hash", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
# An exact name asked before the name index is built (``CatalogRows.exact_names``): a lookup,
# not a scan of every entity.
Index("ix_entities_name_lower", func.lower(entities.c.name))

relations = Table(
    "relations",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("source_ref", REF, nullable=False),
    Column("type", String(40), nullable=False),
    Column("target_ref", REF, nullable=False),
    # One row per relation an entity emits, in the canonical direction of its pair
    # (``bot.catalog.model.canonical``: ``X ownedBy G``, never ``G ownerOf X``); the reverse is
    # derived when read, by target_ref (``bot.store.sql.catalog``). Two emitters of the same
    # relation (``X`` and ``G`` in a live Backstage) are two rows, each removed with its emitter.
    Column("emitter_ref", REF, nullable=False, index=True),  # the entity whose spec made it
    Index("ix_relations_source_type", "source_ref", "type"),
    Index("ix_relations_target_type", "target_ref", "type"),
)

catalog_files = Table(
    "catalog_files",
    metadata,
    Column("source", String(200), primary_key=True),
    Column("path", String(1024), primary_key=True),
    Column("sha256", String(64)),  # NULL: parse again next time (errors, lost duplicates)
    Column("position", Integer, nullable=False),
    Column("children", Text, nullable=False),  # JSON list of root-relative paths
    Column("entity_refs", Text, nullable=False),  # JSON list of refs this file holds
    # "size:mtime_ns:ctime_ns:inode:device" when the file was read with ``sha256``: a later
    # sync (a fresh process too) that finds the same stat skips reading and hashing it.
    Column("stat", String(120)),
)

problems = Table(
    "problems",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("source", String(200), nullable=False, index=True),
    Column("file", String(1024)),
    Column("line", Integer),
    Column("entity", REF),
    Column("level", String(10), nullable=False),
    Column("message", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

# What a ``Problem`` is made of (``Problem.from_dict`` reads a row of these).
PROBLEM_COLUMNS = (
    problems.c.level,
    problems.c.message,
    problems.c.file,
    problems.c.line,
    problems.c.entity,
)

changes = Table(
    "changes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False, index=True),
    Column("source", String(200), nullable=False),
    Column("ref", REF, nullable=False),
    Column("change", String(20), nullable=False),  # added | removed | modified | owner_changed
    Column("old_owner", REF),
    Column("new_owner", REF),
)

source_status = Table(
    "source_status",
    metadata,
    Column("name", String(200), primary_key=True),
    Column("type", String(40), nullable=False),
    Column("location", Text),  # root directory or URL, for display and docs discovery
    Column("last_attempt", DateTime(timezone=True)),
    Column("last_success", DateTime(timezone=True)),
    Column("last_error", Text),
    Column("entity_count", Integer, nullable=False, default=0),
    Column("duration_ms", Integer),
)

meta = Table(
    "meta",
    metadata,
    Column("key", String(100), primary_key=True),
    Column("value", Text, nullable=False),
)

# --- Docs index (bot/docs, migration 0002). Search columns live only in the database: an FTS5
# table over docs_sections on SQLite, a generated tsvector column with a GIN index on PostgreSQL.

docs_sites = Table(
    "docs_sites",
    metadata,
    Column("entity_ref", REF, primary_key=True),
    Column("source", String(200), nullable=False),
    Column("techdocs_ref", Text, nullable=False),  # the annotation as written
    Column("site_dir", Text),  # source-root-relative folder holding mkdocs.yml
    Column("repo_path", Text),  # that folder relative to the entity's file (for repo links)
    Column("docs_dir", String(1024)),
    Column("site_name", Text),
    Column("site_description", Text),
    Column("nav", Text, nullable=False),  # JSON [[title, path, depth, section], ...]
    Column("input_hash", String(64)),  # mkdocs.yml and every page: unchanged means skip
    Column("git_head", String(64)),
    Column("pages", Integer, nullable=False),
    Column("sections", Integer, nullable=False),
    Column("words", Integer, nullable=False),
    Column("nav_missing", Text, nullable=False),  # JSON list of nav paths with no file
    Column("folder_missing", Integer, nullable=False),  # 1: annotation set, no docs folder
    Column("docs_updated", DateTime(timezone=True)),
    Column("code_updated", DateTime(timezone=True)),
    Column("dates_from", String(10)),  # git | file
    Column("problems", Text, nullable=False),  # JSON list of Problem dicts
    Column("indexed_at", DateTime(timezone=True), nullable=False),
    # The entity's content hash and a hash of the stats of the site's files when indexed:
    # both unchanged, the site is not read again (migration 0024).
    Column("entity_hash", String(64)),
    Column("stat", String(64)),
)

docs_pages = Table(
    "docs_pages",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("entity_ref", REF, nullable=False, index=True),
    Column("path", String(1024), nullable=False),  # inside the docs folder: runbook.md
    Column("title", Text, nullable=False),
    Column("position", Integer, nullable=False),  # nav order first, then the rest by path
    Column("in_nav", Integer, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("size", Integer, nullable=False),
    Column("word_count", Integer, nullable=False),
    Column("last_updated", DateTime(timezone=True)),
    Column("updated_from", String(10)),  # git | file
    UniqueConstraint("entity_ref", "path", name="uq_docs_pages_entity_path"),
)

docs_sections = Table(
    "docs_sections",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("page_id", Integer, nullable=False, index=True),
    Column("entity_ref", REF, nullable=False, index=True),
    Column("position", Integer, nullable=False),
    Column("level", Integer, nullable=False),
    Column("anchor", String(512), nullable=False),
    Column("title", Text, nullable=False),
    Column("page_title", Text, nullable=False),
    Column("site", Text, nullable=False),  # entity name, title and site name: searchable too
    Column("body", Text, nullable=False),
)

# --- Scheduled reports (bot/scheduler/, bot/reports; SQL in bot/store/sql/; migration 0006).

report_runs = Table(
    "report_runs",
    metadata,
    # The claim: one row per (schedule, scheduled time); only the replica whose INSERT made the
    # row posts. The key is the scheduled instant in UTC, written "2026-11-02T08:00:00Z".
    Column("schedule_id", String(100), primary_key=True),
    Column("scheduled_for", String(32), primary_key=True),
    Column("scheduled_at", DateTime(timezone=True), nullable=False),
    Column("report", String(40), nullable=False),
    # claimed | posted | partial | failed | nothing | missed
    Column("status", String(20), nullable=False),
    Column("claimed_by", String(200), nullable=False),
    Column("claimed_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True)),
    Column("posts", Integer, nullable=False),
    Column("detail", Text, nullable=False),  # JSON: one entry per delivery, or why it was missed
)

report_snapshots = Table(
    "report_snapshots",
    metadata,
    # What a posted digest counted, per scope ("platform" or a group ref): the next digest's
    # trend compares against it, and its changes start after ``last_change_id``.
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("scope", REF, nullable=False),
    Column("schedule_id", String(100), nullable=False),
    Column("scheduled_for", String(32), nullable=False),
    Column("taken_at", DateTime(timezone=True), nullable=False),
    Column("last_change_id", Integer, nullable=False),
    Column("metrics", Text, nullable=False),  # JSON
    UniqueConstraint("scope", "schedule_id", "scheduled_for", name="uq_report_snapshots_run"),
    Index("ix_report_snapshots_scope", "scope", "id"),
)

channel_faults = Table(
    "channel_faults",
    metadata,
    # A channel a post could not reach (unknown, archived, closed to the bot). Reported to the
    # platform channel once: the replica whose UPDATE sets ``reported_at`` posts the notice.
    Column("platform", String(40), primary_key=True),
    Column("channel", String(200), primary_key=True),
    Column("scope", REF),  # the team whose channel it is, when a team's
    Column("error", Text, nullable=False),
    Column("first_seen", DateTime(timezone=True), nullable=False),
    Column("last_seen", DateTime(timezone=True), nullable=False),
    Column("reported_at", DateTime(timezone=True)),
)

# --- Runtime locations (bot/catalog/locations.py, migration 0003).

runtime_locations = Table(
    "runtime_locations",
    metadata,
    # A repository registered while Callboard runs (a scaffolded project): synced with the rest
    # by the "registered-locations" git source. ``ref`` "" means the remote's default branch.
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("url", String(1024), nullable=False),  # never with credentials
    Column("ref", String(255), nullable=False),
    Column("path", String(1024), nullable=False),  # the catalog file inside the repository
    Column("added_at", DateTime(timezone=True), nullable=False),
    Column("added_by", String(320)),
    UniqueConstraint("url", "ref", "path", name="uq_runtime_locations_target"),
)

# --- Slack OAuth installs (adapters/slack/oauth.py, migration 0004): slack_sdk's own
# SQLAlchemy installation and state stores read and write these, column for column.

slack_installations = Table(
    "slack_installations",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("client_id", String(32), nullable=False),
    Column("app_id", String(32), nullable=False),
    Column("enterprise_id", String(32)),
    Column("enterprise_name", String(200)),
    Column("enterprise_url", String(200)),
    Column("team_id", String(32)),
    Column("team_name", String(200)),
    Column("bot_token", String(200)),
    Column("bot_id", String(32)),
    Column("bot_user_id", String(32)),
    Column("bot_scopes", String(1000)),
    Column("bot_refresh_token", String(200)),
    Column("bot_token_expires_at", DateTime),
    Column("user_id", String(32), nullable=False),
    Column("user_token", String(200)),
    Column("user_scopes", String(1000)),
    Column("user_refresh_token", String(200)),
    Column("user_token_expires_at", DateTime),
    Column("incoming_webhook_url", String(200)),
    Column("incoming_webhook_channel", String(200)),
    Column("incoming_webhook_channel_id", String(200)),
    Column("incoming_webhook_configuration_url", String(200)),
    Column("is_enterprise_install", Boolean, nullable=False),
    Column("token_type", String(32)),
    Column("installed_at", DateTime, nullable=False),
    Index(
        "slack_installations_idx",
        "client_id",
        "enterprise_id",
        "team_id",
        "user_id",
        "installed_at",
    ),
)

slack_bots = Table(
    "slack_bots",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("client_id", String(32), nullable=False),
    Column("app_id", String(32), nullable=False),
    Column("enterprise_id", String(32)),
    Column("enterprise_name", String(200)),
    Column("team_id", String(32)),
    Column("team_name", String(200)),
    Column("bot_token", String(200)),
    Column("bot_id", String(32)),
    Column("bot_user_id", String(32)),
    Column("bot_scopes", String(1000)),
    Column("bot_refresh_token", String(200)),
    Column("bot_token_expires_at", DateTime),
    Column("is_enterprise_install", Boolean, nullable=False),
    Column("installed_at", DateTime, nullable=False),
    Index("slack_bots_idx", "client_id", "enterprise_id", "team_id", "installed_at"),
)

slack_oauth_states = Table(
    "slack_oauth_states",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("state", String(200), nullable=False),
    Column("expire_at", DateTime, nullable=False),
)

# --- Audit log and scaffold claims (bot/scaffold, migration 0005).

audit_log = Table(
    "audit_log",
    metadata,
    # Who did what, when, with which values, and how it ended (scaffolds; admin actions too).
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False, index=True),
    Column("finished_at", DateTime(timezone=True)),
    Column("action", String(40), nullable=False, index=True),  # scaffold | ...
    Column("platform", String(20), nullable=False),
    Column("actor_id", String(200), nullable=False),  # the chat platform's user id
    Column("actor_name", String(200)),
    Column("actor_ref", REF),  # the catalog User, when known
    Column("target", String(320), nullable=False),  # what was acted on (the new name)
    Column("result", String(20), nullable=False),  # running|succeeded|failed|refused|invalid
    Column("message", Text),
    Column("details", Text, nullable=False),  # JSON: template, values, repository, steps
)

scaffold_claims = Table(
    "scaffold_claims",
    metadata,
    # A name being scaffolded right now: the primary key lets one run (of any replica) hold it.
    Column("name", String(255), primary_key=True),  # lower-cased component name
    Column("audit_id", Integer, nullable=False),
    Column("claimed_at", DateTime(timezone=True), nullable=False),
)

# --- ops ---
delivery_claims = Table(
    "delivery_claims",
    metadata,
    # One chat delivery (a Slack event id or trigger id, prefixed by the platform): the replica
    # whose INSERT made the row processes it; a retry reaching any replica finds it taken.
    Column("key", String(300), primary_key=True),
    Column("claimed_by", String(200), nullable=False),
    Column("claimed_at", DateTime(timezone=True), nullable=False, index=True),
)

# --- change notifications (bot/notify, migration 0021) ---
notify_cursor = Table(
    "notify_cursor",
    metadata,
    # How far notifications went in the change log. A batch is committed by an UPDATE that
    # only matches the version it was planned on: one replica commits each batch.
    Column("name", String(40), primary_key=True),
    Column("last_change_id", Integer, nullable=False),
    Column("version", Integer, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

notify_conditions = Table(
    "notify_conditions",
    metadata,
    # Conditions already told (owner-unknown, docs-stale): told again only after they clear.
    Column("ref", REF, primary_key=True),
    Column("condition", String(20), primary_key=True),
    Column("since", DateTime(timezone=True), nullable=False),
)

notify_outbox = Table(
    "notify_outbox",
    metadata,
    # One message for one channel from one batch; held (quiet hours) until ``not_before``.
    # The replica whose UPDATE moves it from pending to sending posts it, once.
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("batch", Integer, nullable=False),
    Column("platform", String(40), nullable=False),
    Column("channel", String(200), nullable=False),
    Column("payload", Text, nullable=False),  # JSON: lines and team labels
    Column("line_count", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("not_before", DateTime(timezone=True)),
    Column("status", String(20), nullable=False),  # pending | sending | posted | <delivery>
    Column("claimed_by", String(200)),
    Column("claimed_at", DateTime(timezone=True)),
    Column("finished_at", DateTime(timezone=True)),
    Column("error", Text),
    Index("ix_notify_outbox_due", "status", "not_before"),
)

notify_subscriptions = Table(
    "notify_subscriptions",
    metadata,
    # A channel following an entity, a system or a team (/subscribe).
    Column("platform", String(40), primary_key=True),
    Column("channel", String(200), primary_key=True),
    Column("target", REF, primary_key=True),
    Column("kind", String(20), nullable=False),  # team | system | entity
    Column("created_by", String(200), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

# --- attestation (bot.attest, migration 0022) ---
attest_campaigns = Table(
    "attest_campaigns",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("scope", Text, nullable=False),  # "kind:component,lifecycle:production" ("": default)
    Column("created_by", String(200), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("due_at", DateTime(timezone=True), nullable=False),
    Column("remind_every_s", Integer),  # NULL: no reminders
    Column("closed_at", DateTime(timezone=True)),
)

attest_items = Table(
    "attest_items",
    metadata,
    # An entity a campaign asks its owning team about, and its version (a hash) when asked.
    Column("campaign_id", Integer, primary_key=True),
    Column("entity_ref", REF, primary_key=True),
    Column("team_ref", REF, nullable=False),
    Column("version", String(64), nullable=False),
    Column("title", String(255), nullable=False),
)

attest_answers = Table(
    "attest_answers",
    metadata,
    # Every answer, kept: the evidence. An item's state is its newest answer.
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("campaign_id", Integer, nullable=False),
    Column("entity_ref", REF, nullable=False),
    Column("team_ref", REF, nullable=False),
    Column("answer", String(20), nullable=False),  # confirmed | not-ours | needs-changes
    Column("actor", String(300), nullable=False),
    Column("user_ref", REF),
    Column("platform", String(40), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("version", String(64), nullable=False),
    Column("note", Text),
    Column("named_team", REF),
    Index("ix_attest_answers_campaign", "campaign_id", "id"),
)

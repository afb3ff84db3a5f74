"""Every catalog annotation key Callboard reads, in one place.

Backstage's own keys (``backstage.io/...``), the well-known integration keys Callboard shows
(GitHub, PagerDuty, Opsgenie), and Callboard's chat keys (Backstage has no core chat
annotation). Core, commands and adapters import them from here, so a key is spelled once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

# --- Backstage core ---
SOURCE_LOCATION: Final = "backstage.io/source-location"
VIEW_URL: Final = "backstage.io/view-url"
SOURCE_TEMPLATE: Final = "backstage.io/source-template"  # written by catalog:write
MANAGED_BY_LOCATION: Final = "backstage.io/managed-by-location"
TECHDOCS_REF: Final = "backstage.io/techdocs-ref"
TECHDOCS_ENTITY: Final = "backstage.io/techdocs-entity"
# The prefix both TechDocs keys share (a cheap pre-filter on stored entity JSON).
TECHDOCS_PREFIX: Final = "backstage.io/techdocs"

# --- well-known integrations ---
GITHUB_PROJECT_SLUG: Final = "github.com/project-slug"
PAGERDUTY_SERVICE_ID: Final = "pagerduty.com/service-id"
PAGERDUTY_INTEGRATION_KEY: Final = "pagerduty.com/integration-key"
OPSGENIE_TEAM: Final = "opsgenie.com/team"
OPSGENIE_COMPONENT_SELECTOR: Final = "opsgenie.com/component-selector"
OPSGENIE_SCHEDULE: Final = "opsgenie.com/schedule"  # a schedule name or id (/oncall)

# What every on-call annotation key starts with (a cheap pre-filter on stored entity JSON).
ONCALL_PREFIXES: Final = ("pagerduty.com/", "opsgenie.com/")

# On-call annotations shown by /whoowns, with their labels.
ONCALL_ANNOTATIONS: Final = (
    (PAGERDUTY_SERVICE_ID, "PagerDuty service"),
    (PAGERDUTY_INTEGRATION_KEY, "PagerDuty integration"),
    (OPSGENIE_TEAM, "Opsgenie team"),
    (OPSGENIE_COMPONENT_SELECTOR, "Opsgenie selector"),
)

# --- Callboard's chat keys ---
SLACK_USER_ID: Final = "slack.com/user-id"
DISCORD_USER_ID: Final = "discord.com/user-id"
SLACK_CHANNEL_ID: Final = "slack.com/channel-id"
SLACK_CHANNEL_NAME: Final = "slack.com/channel-name"
SLACK_BOT_NOTIFY: Final = "slack.com/bot-notify"  # read by Backstage's Slack notifications module
DISCORD_CHANNEL_ID: Final = "discord.com/channel-id"

# The User annotation holding a platform's chat user id.
USER_ID_ANNOTATIONS: Final[Mapping[str, str]] = {
    "slack": SLACK_USER_ID,
    "discord": DISCORD_USER_ID,
}

# The Group annotation a platform's channel id is written to (``/here`` names it).
CHANNEL_ID_ANNOTATIONS: Final[Mapping[str, str]] = {
    "slack": SLACK_CHANNEL_ID,
    "discord": DISCORD_CHANNEL_ID,
}

# The Group annotations a channel is looked up by, per platform, in order: where a team's
# digest is posted, and which team a channel belongs to. Backstage's Slack module reads
# ``slack.com/bot-notify``, accepted as the Slack fallback.
CHANNEL_ANNOTATIONS: Final[Mapping[str, tuple[str, ...]]] = {
    "slack": (SLACK_CHANNEL_ID, SLACK_BOT_NOTIFY),
    "discord": (DISCORD_CHANNEL_ID,),
}

# The console has no channel ids of its own: ``console.channel`` may name any platform's.
CONSOLE_CHANNEL_ANNOTATIONS: Final = (SLACK_CHANNEL_ID, SLACK_CHANNEL_NAME, DISCORD_CHANNEL_ID)

"""Discord rendering: any ``Reply`` fits one message within Discord's limits, nothing lost."""

from __future__ import annotations

import random
import shlex

import discord
import pytest

from adapters.discord.render import (
    COMPONENTS_MAX,
    DESCRIPTION_MAX,
    EMBEDS_MAX,
    ERROR_COLOR,
    FIELD_NAME_MAX,
    FIELD_VALUE_MAX,
    FIELDS_MAX,
    FOOTER_MAX,
    MESSAGE_EMBED_TOTAL_MAX,
    TITLE_MAX,
    render_reply,
)
from adapters.discord.tree import NAME_RE, discord_name, one_line, slash_command
from bot.chat import (
    MARK_CLOSE,
    MARK_OPEN,
    Button,
    Field,
    Link,
    Mention,
    MentionText,
    Reply,
    Section,
)
from bot.dispatch import Arg, Args, CommandSpec, Context, Dispatcher, Option


def within_limits(embeds: tuple[discord.Embed, ...]) -> None:
    assert 1 <= len(embeds) <= EMBEDS_MAX
    assert sum(len(e) for e in embeds) <= MESSAGE_EMBED_TOTAL_MAX
    for e in embeds:
        assert len(e.title or "") <= TITLE_MAX
        assert len(e.description or "") <= DESCRIPTION_MAX
        assert len(e.footer.text or "") <= FOOTER_MAX
        assert len(e.fields) <= FIELDS_MAX
        for f in e.fields:
            assert 1 <= len(f.name or "") <= FIELD_NAME_MAX
            assert 1 <= len(f.value or "") <= FIELD_VALUE_MAX


def text_of(embeds: tuple[discord.Embed, ...]) -> str:
    out: list[str] = []
    for e in embeds:
        out += [e.title or "", e.description or "", e.footer.text or ""]
        out += [f"{f.name}={f.value}" for f in e.fields]
    return "\n".join(out)


def test_a_small_reply_keeps_everything_in_order() -> None:
    reply = Reply(
        title="Who owns payments-api",
        text="Owned by *Payments*.",
        notes=("showing the closest match",),
        sections=(
            Section(fields=(Field("Entity", "component:default/payments-api"),)),
            Section(title="Members (2)", items=("Ana", "Tom")),
        ),
        links=(Link("Runbook", "https://runbooks.example/pay"),),
    )
    out = render_reply(reply)
    head, members = out.embeds
    assert head.title == "Who owns payments-api"
    assert head.description == "*showing the closest match*\nOwned by \\*Payments\\*."
    assert [(f.name, f.value) for f in head.fields] == [
        ("Entity", "component:default/payments-api"),
        ("Links", "[Runbook](https://runbooks.example/pay)"),
    ]
    assert members.title == "Members (2)" and members.description == "• Ana\n• Tom"
    assert out.omitted == 0


def test_search_matches_render_bold_and_errors_red() -> None:
    out = render_reply(Reply(text=f"issue {MARK_OPEN}refunds{MARK_CLOSE} daily", error=True))
    assert out.embeds[0].description == "issue **refunds** daily"
    assert out.embeds[0].colour == ERROR_COLOR


def test_an_empty_reply_still_renders_one_embed() -> None:
    out = render_reply(Reply())
    assert len(out.embeds) == 1 and out.embeds[0].description == "…"


def test_a_huge_list_is_summarised_and_later_sections_keep_their_share() -> None:
    reply = Reply(
        title="Big",
        sections=(
            Section(
                title="Owned (500)",
                items=tuple(f"service-{i:03d} — " + "x" * 60 for i in range(500)),
            ),
            Section(title="Also (300)", items=tuple(f"lib-{i:03d}" for i in range(300))),
            Section(title="On call", fields=(Field("PagerDuty", "P1W103D"),)),
        ),
    )
    out = render_reply(reply)
    within_limits(out.embeds)
    text = text_of(out.embeds)
    assert "service-000" in text and "lib-000" in text and "P1W103D" in text
    assert "… and" in out.embeds[1].description and "… and" in out.embeds[2].description
    assert out.omitted > 400


def test_fields_past_25_continue_and_sections_past_10_fold_into_fields() -> None:
    reply = Reply(
        title="Lots",
        sections=(
            Section(title="Facts", fields=tuple(Field(f"F{i}", str(i)) for i in range(30))),
            *(Section(title=f"S{i}", items=(f"item {i}",)) for i in range(15)),
        ),
    )
    out = render_reply(reply)
    within_limits(out.embeds)
    assert out.embeds[1].title == "Facts" and len(out.embeds[1].fields) == 25
    assert out.embeds[2].title == "Facts (continued)" and len(out.embeds[2].fields) == 5
    folded = out.embeds[-1]
    assert ("S14", "• item 14") in [(f.name, f.value) for f in folded.fields]


def test_buttons_past_the_component_limit_and_long_commands_become_text() -> None:
    long_command = "/whoowns " + "x" * 120
    reply = Reply(
        text="t",
        buttons=(
            *(Button(f"B{i}", command=f"/help {i}") for i in range(30)),
            Button("Long", command=long_command),
            Button("Docs", url="https://docs.example/x"),
            Button("Odd", url="ftp://files.example/x"),
        ),
        more="/whoowns team --page 2",
    )
    out = render_reply(reply, reserve_buttons=1)
    assert len(out.actions) == COMPONENTS_MAX - 1
    fields = {f.name: f.value for f in out.embeds[0].fields}
    assert "Long: " + long_command in fields["Try"]
    assert "More: /whoowns team --page 2" in fields["Try"]  # no room left for its button
    assert "Odd: ftp://files.example/x" in fields["Links"]  # not a link: http(s) only


def test_more_gets_a_button_when_there_is_room() -> None:
    out = render_reply(Reply(text="t", more="/owns me --page 2"))
    assert [(b.label, b.command) for b in out.actions] == [("More", "/owns me --page 2")]
    assert not out.embeds[-1].footer.text


@pytest.mark.parametrize("seed", range(40))
def test_random_replies_always_fit(seed: int) -> None:
    rng = random.Random(seed)

    def words(n: int) -> str:
        return " ".join(
            rng.choice(["a", "*b*", "cc_d", "`e`", "#f", "ü", "x" * 50]) for _ in range(n)
        )

    sections = tuple(
        Section(
            title=words(rng.randint(0, 80)) or None,
            text=words(rng.randint(0, 900)) or None,
            fields=tuple(
                Field(words(rng.randint(0, 60)), words(rng.randint(0, 400)), rng.random() < 0.5)
                for _ in range(rng.randint(0, 40))
            ),
            items=tuple(words(rng.randint(1, 30)) for _ in range(rng.randint(0, 300))),
        )
        for _ in range(rng.randint(0, 16))
    )
    reply = Reply(
        title=words(rng.randint(0, 90)) or None,
        text=words(rng.randint(0, 1500)) or None,
        notes=tuple(words(rng.randint(1, 40)) for _ in range(rng.randint(0, 5))),
        sections=sections,
        links=tuple(Link(words(3), f"https://x.example/{i}") for i in range(rng.randint(0, 60))),
        error=rng.random() < 0.2,
    )
    within_limits(render_reply(reply).embeds)


# ------------------------------------------------------------------------ the tree


def test_names_are_made_valid_for_discord() -> None:
    assert discord_name("/WhoOwns") == "whoowns"
    assert discord_name("dry run!") == "dry-run"
    assert discord_name("x" * 40) == "x" * 32
    assert NAME_RE.match(discord_name("Ünïcode Name"))
    with pytest.raises(ValueError, match="cannot make a Discord"):
        discord_name("!!!")
    assert one_line("  two\nlines  ", "fallback") == "two lines"
    assert one_line("", "fallback") == "fallback"
    assert len(one_line("y" * 300, "f")) == 100


async def _noop(ctx: Context, args: Args) -> Reply:
    return Reply(text="ok")


SPEC = CommandSpec(
    name="deps",
    summary="What depends on what.",
    handler=_noop,
    args=(Arg("entity"),),
    options=(
        Option("depth", "int", minimum=1, maximum=5),
        Option("reverse", "flag"),
        Option("format", "text"),
    ),
)


def test_option_values_become_the_line_the_dispatcher_parses() -> None:
    slash = slash_command(SPEC)
    names = {p.name: p.python for p in slash.params}
    line = slash.text(
        {
            names["entity"]: "Payments API",
            names["depth"]: 3,
            names["reverse"]: True,
            names["format"]: "it's",
        }
    )
    assert shlex.split(line) == ["Payments API", "--depth", "3", "--reverse", "--format", "it's"]
    assert slash.text({names["entity"]: "x", names["reverse"]: False}) == "x"
    parsed = Dispatcher.parse(Dispatcher.__new__(Dispatcher), SPEC, line)
    assert parsed.values["entity"] == "Payments API"
    assert parsed.options == {"depth": 3, "reverse": True, "format": "it's"}


# ----------------------------------------------------------------------------- hostile text


def _problems(out: object, allowed: set[str]) -> list[str]:
    from tests.markup import discord_problems, embed_strings

    return [
        problem
        for embed in out.embeds  # type: ignore[attr-defined]
        for text, markdown in embed_strings(embed)
        if markdown
        for problem in discord_problems(text, allowed)
    ]


@pytest.mark.parametrize(
    "text",
    [
        "[a] [payments-api](https://evil.example/two)",
        "\\[x](https://evil.example/)",
        "\\\\[x](https://evil.example/)",
        "[x](<https://evil.example/>)",
        "<@123456789012345678> <@&1> <#2> <t:1:R> </help:3> <:e:4> @everyone @here ||s|| `c`",
    ],
)
def test_catalog_text_cannot_form_links_or_mentions(text: str) -> None:
    reply = Reply(
        title=text,
        text=text,
        notes=(text,),
        sections=(Section(title=text, text=text, fields=(Field(text, text),), items=(text,)),),
        buttons=(Button(text, command=f"/describe {text}" + "x" * 120),),
    )
    out = render_reply(reply)
    assert _problems(out, set()) == []
    from adapters.discord.render import content, plain_text
    from tests.markup import discord_problems, discord_visible

    assert discord_problems(content(text), set()) == []
    assert discord_problems(plain_text(reply), set()) == []
    assert discord_visible(out.embeds[0].description or "").endswith(text)  # shown as written


def test_annotation_urls_are_checked_before_they_become_links() -> None:
    reply = Reply(
        text="t",
        links=(
            Link("Source", "https://ok.example/x) [Runbook](https://evil.example/"),
            Link("Ok", "https://ok.example/a_(b)"),
            Link("Script", "javascript:alert(1)"),
            Link("Spoof", "https://payments.example@evil.example/"),
            Link("Docs](https://evil.example/) [x", "https://ok.example/docs"),
        ),
        buttons=(Button("Bad button", url="javascript:alert(1)"),),
    )
    out = render_reply(reply)
    links = {f.name: f.value for f in out.embeds[0].fields}["Links"]
    allowed = {"https://ok.example/a_%28b%29", "https://ok.example/docs"}
    assert _problems(out, allowed) == []
    assert "[Ok](https://ok.example/a_%28b%29)" in links
    assert "Source: https://ok.example/x\\) \\[Runbook\\]\\(https://evil.example/" in links
    assert out.actions == ()  # a javascript: button is text, not a component


def test_limits_hold_after_escaping() -> None:
    wide = "[](){}<>\\*_~|`" * 1000
    reply = Reply(
        title=wide,
        text=wide,
        sections=(
            Section(title=wide, fields=tuple(Field(wide, wide) for _ in range(30))),
            Section(items=(wide,) * 40),
        ),
        links=tuple(Link(wide, "https://ok.example/" + "(" * 400) for _ in range(20)),
    )
    out = render_reply(reply)
    within_limits(out.embeds)
    assert _problems(out, {"https://ok.example/" + "%28" * 400}) == []


def test_mentions_render_as_discord_mentions_and_everything_else_stays_escaped() -> None:
    ana = Mention("discord", "589860739419867561", "Ana <ana@x.example>")
    reply = Reply(
        sections=(
            Section(
                title="On call",
                fields=(Field("On call now", MentionText(ana, " (PagerDuty, *until* 9)")),),
                items=(
                    MentionText("Level 1: ", ana),
                    MentionText("Level 2: ", Mention("discord", "12><@&99", "Bo")),  # not an id
                    MentionText("Level 3: ", Mention("slack", "U0CY", "Cy")),  # another platform
                    MentionText("ping @", Mention("discord", "1", "everyone")),  # no broadcast
                    "<@589860739419867561> typed into the catalog",  # plain text never mentions
                ),
            ),
        )
    )
    rendered = render_reply(reply)
    within_limits(rendered.embeds)
    shown = text_of(rendered.embeds)
    assert "On call now=<@589860739419867561> \\(PagerDuty, \\*until\\* 9\\)" in shown
    assert "• Level 1: <@589860739419867561>" in shown
    assert "• Level 2: Bo" in shown
    assert "• Level 3: Cy" in shown
    assert "• ping @\u200beveryone" in shown
    assert "• \\<@589860739419867561\\> typed into the catalog" in shown
    assert shown.replace("\\<@", "").count("<@") == 2  # ours only

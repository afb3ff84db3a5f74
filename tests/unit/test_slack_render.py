"""The Block Kit renderer: every Reply element, always within Slack's limits, nothing lost."""

from __future__ import annotations

import json
from typing import Any

import pytest
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

from adapters.slack import render
from bot.chat import Button, Dialog, DialogField, Field, Link, Mention, MentionText, Reply, Section


def valid(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for message in messages:
        assert message["text"]
        assert 0 < len(message["blocks"]) <= render.BLOCKS_PER_MESSAGE
        for block in message["blocks"]:
            parsed = Block.parse(block)
            assert parsed is not None and parsed.to_dict() == block
        assert sum(len(json.dumps(b)) for b in message["blocks"]) < 40_000
    return messages


def texts(messages: list[dict[str, Any]]) -> str:
    out: list[str] = []
    for message in messages:
        for block in message["blocks"]:
            if block.get("text"):
                out.append(block["text"]["text"])
            for f in block.get("fields") or ():
                out.append(f["text"])
            for e in block.get("elements") or ():
                if isinstance(e.get("text"), str):
                    out.append(e["text"])
    return "\n".join(out)


def test_every_element_of_a_reply_is_rendered() -> None:
    reply = Reply(
        title="Who owns Payments API",
        text="Payments API is owned by Payments Team.",
        sections=(
            Section(
                fields=(
                    Field("Entity", "component:default/payments-api"),
                    Field("About", "Cards & wallets", inline=False),
                )
            ),
            Section(title="Members (2)", items=("Ana <ana@x.example>", "Tom")),
            Section(title="Runbook", text="Page the on-call first."),
        ),
        links=(
            Link("Source", "https://github.com/acme/payments-api"),
            Link("Odd", "javascript:alert(1)"),
        ),
        buttons=(
            Button("Details", command="/describe payments-api"),
            Button("Dashboard", url="https://grafana.example/d/1", style="primary"),
        ),
        notes=("showing the closest match",),
        more="/whoowns x --page 2",
    )
    [message] = valid(render.render_reply(reply, share_command="/whoowns payments-api"))
    kinds = [b["type"] for b in message["blocks"]]
    assert kinds[0] == "header" and kinds[1] == "context" and kinds[-1] == "actions"
    shown = texts([message])
    assert "*Entity*\ncomponent:default/payments-api" in shown
    assert "*About*\nCards &amp; wallets" in shown
    assert "*Members (2)*\n• Ana &lt;ana@x.example&gt;\n• Tom" in shown
    assert "*Runbook*\nPage the on-call first." in shown
    assert "<https://github.com/acme/payments-api|Source>" in shown
    assert "Odd: javascript:alert(1)" in shown  # not a link
    assert "_showing the closest match_" in shown
    actions = message["blocks"][-1]["elements"]
    assert [(a["text"]["text"], a.get("value"), a.get("url")) for a in actions] == [
        ("Details", "/describe payments-api", None),
        ("Dashboard", None, "https://grafana.example/d/1"),
        ("Show more", "/whoowns x --page 2", None),
        ("Share in channel", "/whoowns payments-api", None),
    ]
    assert len({a["action_id"] for a in actions}) == 4


def test_errors_are_marked_and_never_shareable() -> None:
    [message] = valid(
        render.render_reply(
            Reply(text="Nothing named “x”.", error=True), share_command="/whoowns x"
        )
    )
    assert texts([message]).startswith(":warning: Nothing named")
    assert not [b for b in message["blocks"] if b["type"] == "actions"]


def test_catalog_text_cannot_mention_or_link() -> None:
    [message] = valid(render.render_reply(Reply(text="<!channel> <@U123> <https://x|y> & co")))
    assert texts([message]) == "&lt;!channel&gt; &lt;@U123&gt; &lt;https://x|y&gt; &amp; co"
    assert message["text"] == texts([message])  # the notification text is mrkdwn too


def test_search_match_marks_become_bold() -> None:
    from bot.chat import MARK_CLOSE, MARK_OPEN

    hit = f"{MARK_OPEN}refund{MARK_CLOSE}"
    [message] = valid(
        render.render_reply(
            Reply(
                title=f"Docs for {hit}",
                text=f"How to {hit} a ride",
                sections=(Section(items=(f"runbook: {hit}s",)),),
            )
        )
    )
    assert message["blocks"][0]["text"]["text"] == "Docs for refund"
    assert "How to *refund* a ride" in texts([message])
    assert "• runbook: *refund*s" in texts([message])
    assert MARK_OPEN not in message["text"]


def test_oversized_elements_are_split_not_cut() -> None:
    long_value = " ".join(f"word{i}" for i in range(1500))  # ~10,000 characters
    reply = Reply(
        title="T" * 400,
        text="\n".join(f"line {i}" for i in range(3000)),
        sections=(Section(fields=(Field("Huge", long_value),)),),
        notes=tuple(f"note {i}" for i in range(25)),
        buttons=tuple(Button("B" * 100 + str(i), command=f"/help {i}") for i in range(30)),
    )
    messages = valid(render.render_reply(reply, max_messages=50))
    shown = texts(messages)
    assert "*" + "T" * 400 + "*" in shown  # too long for a header: kept whole, in bold
    assert all(f"line {i}" in shown for i in range(3000))
    assert shown.replace("\n", " ").count("word1499") == 1
    assert all(f"_note {i}_" in shown for i in range(25))
    actions = [
        e for m in messages for b in m["blocks"] if b["type"] == "actions" for e in b["elements"]
    ]
    assert len(actions) == 30
    assert all(len(a["text"]["text"]) <= 75 for a in actions)
    assert all(m["blocks"][-1]["type"] == "actions" for m in messages[-1:])


def test_past_the_message_budget_the_rest_is_summarised() -> None:
    items = tuple(
        f"service-{i:05d} — a line long enough to fill the blocks quickly" for i in range(20_000)
    )
    reply = Reply(
        title="Everything",
        sections=(Section(title="All", items=items),),
        more="/everything --page 2",
    )
    messages = valid(render.render_reply(reply))
    assert len(messages) == render.MAX_MESSAGES
    shown = texts(messages)
    kept = sum(1 for line in shown.split("\n") if line.startswith("• "))
    assert 0 < kept < 20_000
    assert f"…and {20_000 - kept} more lines not shown here (use Show more" in shown
    assert messages[-1]["blocks"][-1]["elements"][0]["value"] == "/everything --page 2"


def test_thread_rendering_keeps_the_parent_short() -> None:
    items = tuple(f"gap {i} " + "x" * 80 for i in range(400))
    parent, thread = render.render_thread(
        Reply(title="Digest", text="400 gaps", sections=(Section(items=items),))
    )
    valid([parent, *thread])
    assert "Details in the thread" in texts([parent])
    assert "gap 0 " not in texts([parent])
    assert sum(t.count("• gap") for t in texts(thread).split("\n")) == 400
    short, none = render.render_thread(Reply(text="one line"))
    assert none == [] and texts([short]) == "one line"


def test_chunks_split_at_lines_and_lose_nothing() -> None:
    text = "\n".join(["a" * 10] * 50 + ["b" * 7000] + ["c"])
    parts = list(render.chunks(text, 3000))
    assert all(len(p) <= 3000 for p in parts)
    assert "".join(parts).replace("\n", "") == text.replace("\n", "")


def dialog(*fields: DialogField, **kwargs: Any) -> Dialog:
    return Dialog(id="test:1", title=kwargs.pop("title", "A form"), fields=fields, **kwargs)


def test_every_dialog_field_kind_becomes_a_valid_modal_input() -> None:
    many = tuple((f"value-{i}", f"Choice {i}") for i in range(150))
    d = dialog(
        DialogField("name", "Name", default="payments", max_length=10_000, hint="h" * 3000),
        DialogField("about", "About", kind="multiline", required=False),
        DialogField(
            "size", "Size", kind="choice", choices=(("s", "Small"), ("l", "Large")), default="l"
        ),
        DialogField("region", "Region", kind="choice", choices=many),
        DialogField("public", "Public", kind="boolean", default="true"),
        DialogField("owner", "Owner", kind="group"),
        DialogField(
            "service",
            "Service",
            kind="entity",
            entity_kinds=("component", "api"),
            default="component:default/payments-api",
        ),
        title="Create a new Python service",
        submit_label="Create the service now",
    )
    view = render.render_modal(d, render.dialog_metadata(d, "C1"))
    assert View(**view).to_dict() == view
    blocks = {b["block_id"]: b["element"] for b in view["blocks"]}
    assert blocks["field:name"]["max_length"] == 3000
    assert blocks["field:name"]["initial_value"] == "payments"
    assert blocks["field:about"]["multiline"] is True
    assert blocks["field:size"]["initial_option"]["value"] == "l"
    assert blocks["field:region"]["type"] == "plain_text_input"  # 150 choices: typed
    assert blocks["field:public"]["initial_options"][0]["value"] == "true"
    assert blocks["field:owner"]["action_id"] == "callboard:pick:group"
    assert blocks["field:service"]["action_id"] == "callboard:pick:component,api"
    assert render.kinds_of_action(blocks["field:service"]["action_id"]) == ("component", "api")
    assert view["title"]["text"] == "Create a new Python ser…"
    assert len(view["submit"]["text"]) <= 24


def test_dialogs_slack_cannot_hold_are_refused_with_the_reason() -> None:
    with pytest.raises(render.RenderError, match="101 fields; a Slack modal holds 100"):
        d = dialog(*(DialogField(f"f{i}", f"F{i}") for i in range(101)))
        render.render_modal(d, "{}")
    d = dialog(DialogField("a", "A"), state={"blob": "x" * 4000})
    with pytest.raises(render.RenderError, match="carries 4"):
        render.render_modal(d, render.dialog_metadata(d, "C1"))


def test_submitted_values_and_errors_map_by_field() -> None:
    state = {
        "field:a": {"value": {"type": "plain_text_input", "value": "x"}},
        "field:b": {"value": {"type": "checkboxes", "selected_options": []}},
        "field:c": {
            "callboard:pick:group": {
                "type": "external_select",
                "selected_option": {"value": "group:default/t"},
            }
        },
        "field:d": {"value": {"type": "static_select", "selected_option": None}},
        "other": {"value": {"type": "plain_text_input", "value": "ignored"}},
    }
    assert render.submitted_values(state) == {
        "a": "x",
        "b": "false",
        "c": "group:default/t",
        "d": "",
    }
    assert render.field_errors(["a", "b"], {"b": "no", "zz": "bad"}) == {
        "field:b": "no",
        "field:a": "zz: bad",
    }


def test_suggestions_stay_within_option_limits() -> None:
    from bot.catalog.read import IndexEntry

    entries = [
        IndexEntry(
            f"component:default/{'n' * 60}{i}",
            "component",
            f"{'n' * 60}{i}",
            "A very long title " * 5,
        )
        for i in range(150)
    ]
    options = render.suggestion_options(entries)
    assert len(options) == 100
    for option in options:
        assert len(option["text"]["text"]) <= 75 and len(option["value"]) <= 150


# ----------------------------------------------------------------------------- hostile text


def _mrkdwn_problems(messages: list[dict[str, Any]], allowed: set[str]) -> list[str]:
    from tests.markup import mrkdwn_objects, slack_problems

    return [
        problem
        for message in messages
        for obj in mrkdwn_objects(message["blocks"])
        for problem in slack_problems(obj["text"], bool(obj.get("verbatim")), allowed)
    ]


def _longest_text(messages: list[dict[str, Any]]) -> int:
    from tests.markup import mrkdwn_objects

    return max(len(o["text"]) for m in messages for o in mrkdwn_objects(m["blocks"]))


@pytest.mark.parametrize("char", ["&", "<", ">"])
def test_notes_are_cut_after_escaping(char: str) -> None:
    # /search followed by 2500 "&" once made a 9,856-character context element.
    messages = valid(render.render_reply(Reply(notes=(f"no results for {char * 2500}",))))
    assert _longest_text(messages) <= render.CONTEXT_TEXT
    assert _mrkdwn_problems(messages, set()) == []


@pytest.mark.parametrize("text", ["&" * 9000, "a &" * 3000, "<>" * 4000, "x" * 2998 + "&&&&"])
def test_splitting_never_cuts_an_entity(text: str) -> None:
    messages = valid(render.render_reply(Reply(text=text, sections=(Section(text=text),))))
    assert _longest_text(messages) <= render.SECTION_TEXT
    assert _mrkdwn_problems(messages, set()) == []  # no "&am" | "p;" pieces
    for message in messages:
        assert "&" not in message["text"].replace("&amp;", "").replace("&lt;", "").replace(
            "&gt;", ""
        )


def test_long_link_lines_are_split_between_links() -> None:
    links = tuple(
        Link(f"Runbook {i} " + "word " * 30, f"https://ok.example/{i}") for i in range(80)
    )
    messages = valid(render.render_reply(Reply(links=links)))
    allowed = {f"https://ok.example/{i}" for i in range(80)}
    assert _mrkdwn_problems(messages, allowed) == []
    assert texts(messages).count("<https://ok.example/") == 80


def test_every_mrkdwn_object_with_catalog_text_is_verbatim() -> None:
    from tests.markup import mrkdwn_objects

    text = "@here @channel @everyone #general https://evil.example/x"
    reply = Reply(
        title=text * 5,
        text=text,
        notes=(text,) * 12,
        sections=(
            Section(title=text, text=text, fields=(Field(text, text), Field(text, text * 90))),
            Section(title=text, items=(text,) * 3),
        ),
        links=(Link(text, "javascript:x"),),
        buttons=(Button(text, command="/x " + "y" * 3000),),
        more="/more " + "z" * 3000,
    )
    messages = valid(render.render_reply(reply, byline="Shared by <@U0ANA>"))
    objects = [o for m in messages for o in mrkdwn_objects(m["blocks"])]
    assert [o["text"] for o in objects if not o.get("verbatim")] == ["Shared by <@U0ANA>"]
    for message in messages:  # the notification text has no verbatim switch
        assert "@here" not in message["text"] and "@everyone" not in message["text"]


def test_annotation_urls_are_checked_before_they_become_links() -> None:
    reply = Reply(
        links=(
            Link("Source", "https://ok.example/x) [Runbook](https://evil.example/"),
            Link("Pipe", "https://ok.example/a|<https://evil.example/|b>"),
            Link("Ok", "https://ok.example/a?b=1&c=2"),
            Link("Mail", "mailto:x@example.com"),
            Link("Title |<!here>", "https://ok.example/t"),
            Link("rtl \u202etxt.exe", "https://ok.example/\u202egnp.exe"),
        ),
        buttons=(
            Button("Bad", url="javascript:alert(1)"),
            Button("Good", url="https://ok.example/(b)"),
        ),
    )
    messages = valid(render.render_reply(reply))
    allowed = {
        "https://ok.example/a?b=1&c=2",
        "https://ok.example/t",
        "https://ok.example/a%7C%3Chttps://evil.example/%7Cb%3E",  # one link, to ok.example
    }
    assert _mrkdwn_problems(messages, allowed) == []
    shown = texts(messages)
    assert "<https://ok.example/a?b=1&amp;c=2|Ok>" in shown
    assert "<https://ok.example/t|Title ¦&lt;!here&gt;>" in shown
    assert "\u202e" not in shown and "rtl txt.exe" in shown
    urls = [e.get("url") for m in messages for e in buttons_of(m)]
    assert urls == ["https://ok.example/%28b%29"]  # javascript: became text


def buttons_of(message: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for b in message["blocks"] if b["type"] == "actions" for e in b["elements"]]


def test_modal_texts_are_cleaned_and_never_empty() -> None:
    dialog = Dialog(
        id="d",
        title="\u202eNew\x1b[2J service",
        fields=(
            DialogField("name", "\u200b", hint="\x07"),
            DialogField(
                "tier", "Tier \u202e1", kind="choice", choices=(("a", "\u200b"), ("b", "B"))
            ),
        ),
    )
    view = render.render_modal(dialog, "{}")
    assert View(**view).to_dict() == view
    shown = json.dumps(view, ensure_ascii=False)
    assert not any(c in shown for c in "\u202e\u200b\x1b\x07")
    labels = [b["label"]["text"] for b in view["blocks"]]
    assert labels == ["name", "Tier 1"]  # an empty label falls back to the field name
    assert "hint" not in view["blocks"][0]
    assert [o["text"]["text"] for o in view["blocks"][1]["element"]["options"]] == ["a", "B"]


def test_mentions_render_as_slack_mentions_and_everything_else_stays_escaped() -> None:
    ana = Mention("slack", "U0ANA", "Ana <ana@x.example>")
    reply = Reply(
        sections=(
            Section(
                fields=(Field("On call now", MentionText(ana, " (PagerDuty & co <b>)")),),
                items=(
                    MentionText("Level 1: ", ana),
                    # an id of the wrong shape, another platform's mention: shown as text
                    MentionText("Level 2: ", Mention("slack", "U0X><!here", "Bo <bo@x>")),
                    MentionText("Level 3: ", Mention("discord", "589860739419867561", "Cy")),
                    "<@U0EVE> typed into the catalog",  # plain text never mentions
                ),
            ),
        )
    )
    shown = texts(valid(render.render_reply(reply)))
    assert "*On call now*\n<@U0ANA> (PagerDuty &amp; co &lt;b&gt;)" in shown
    assert "• Level 1: <@U0ANA>" in shown
    assert "• Level 2: Bo &lt;bo@x&gt;" in shown
    assert "• Level 3: Cy" in shown
    assert "• &lt;@U0EVE&gt; typed into the catalog" in shown
    assert shown.count("<@") == 2

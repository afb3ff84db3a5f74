"""Forms from a v1beta3 Template's ``spec.parameters``, through the chat dialog (the console
adapter's dispatcher path): conditional fields asked only when they apply, every constraint
refused with the field's message, and the values reaching the template typed as Backstage's
form would give them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from bot.chat import DialogErrors, Reply
from bot.scaffold.validate import SECRET_SHOWN
from tests.conftest import REPO, AppFactory
from tests.integration.test_scaffold import open_dialog, scaffold_app, submit

FORMS = REPO / "tests" / "fixtures" / "v1beta3" / "forms"


def forms_app(make_app: AppFactory, tmp_path: Path) -> Any:
    folder = tmp_path / "forms"
    shutil.copytree(FORMS, folder)
    return scaffold_app(
        make_app,
        tmp_path,
        sources=[{"type": "file", "name": "tpl", "target": str(folder / "template.yaml")}],
    )


GOOD = {
    "name": "forms-demo",
    "cloud": "gcp",
    "gcpProject": "acme-forms-1",
    "replicas": "3",
    "contact": "ana@example.com",
}


async def test_the_dialog_asks_every_field_and_names_what_it_shows_as_text(
    make_app: AppFactory, tmp_path: Path
) -> None:
    app = forms_app(make_app, tmp_path)
    dialog = await open_dialog(app, "/scaffold callboard-forms --dry-run")
    fields = {f.name: f for f in dialog.fields}
    assert list(fields) == [
        "name",
        "owner",
        "cloud",
        "awsRegion",
        "gcpProject",
        "azureSubscription",
        "replicas",
        "contact",
        "homepage",
        "tags",
        "settings",
        "notes",
        "apiToken",
        "flavour",
        "enableDb",
        "enableMonitoring",
        "dbName",
        "alertEmail",
        "scaleNote",
    ]  # the hidden field is not asked
    assert fields["cloud"].choices[0] == ("aws", "Amazon Web Services")
    assert fields["awsRegion"].hint == "Only when cloud is aws."
    assert not fields["awsRegion"].required and not fields["gcpProject"].required
    assert fields["dbName"].hint == "Only when enableDb is true."
    assert fields["replicas"].hint == "A number at least 1 and at most 10."
    assert fields["replicas"].default == "2"
    assert fields["contact"].hint == "An email address."
    assert fields["tags"].hint == "comma-separated (some of: python, java, go)."
    assert fields["flavour"].hint == "Backstage shows the FlavourPicker picker here."
    assert fields["notes"].kind == "multiline" and fields["apiToken"].secret
    assert fields["alertEmail"].hint == "Only when enableMonitoring is set. An email address."
    # a page condition Callboard does not read is shown as written, its fields optional
    assert fields["scaleNote"].hint == "Only when ${{ parameters.replicas > 5 }}."
    assert not fields["scaleNote"].required


async def test_a_pages_when_decides_whether_its_fields_are_required(
    make_app: AppFactory, tmp_path: Path
) -> None:
    app = forms_app(make_app, tmp_path)
    dialog = await open_dialog(app, "/scaffold callboard-forms --dry-run")
    off = await submit(app, dialog, GOOD)
    assert isinstance(off, Reply) and not off.error, off
    on = await submit(app, dialog, {**GOOD, "enableMonitoring": "yes"})
    assert isinstance(on, DialogErrors)
    assert on.errors == {"alertEmail": "is required when enableMonitoring is set"}
    given = await submit(app, dialog, {**GOOD, "enableMonitoring": "yes", "alertEmail": "x"})
    assert isinstance(given, DialogErrors)
    assert given.errors == {"alertEmail": "“x” is not an email address"}


async def test_conditional_fields_are_required_only_when_they_apply(
    make_app: AppFactory, tmp_path: Path
) -> None:
    app = forms_app(make_app, tmp_path)
    dialog = await open_dialog(app, "/scaffold callboard-forms --dry-run")
    missing = await submit(app, dialog, {**GOOD, "cloud": "aws", "gcpProject": ""})
    assert isinstance(missing, DialogErrors)
    assert missing.errors == {"awsRegion": "is required when cloud is aws"}
    wrong = await submit(app, dialog, {**GOOD, "gcpProject": "X"})
    assert isinstance(wrong, DialogErrors) and list(wrong.errors) == ["gcpProject"]
    db = await submit(app, dialog, {**GOOD, "enableDb": "yes", "dbName": "db"})
    assert isinstance(db, DialogErrors)
    assert db.errors == {"dbName": "must be at least 3 characters"}


async def test_every_constraint_is_refused_with_the_fields_message(
    make_app: AppFactory, tmp_path: Path
) -> None:
    app = forms_app(make_app, tmp_path)
    dialog = await open_dialog(app, "/scaffold callboard-forms --dry-run")
    bad = await submit(
        app,
        dialog,
        {
            **GOOD,
            "replicas": "0",
            "contact": "nobody",
            "homepage": "not a uri",
            "tags": "python, cobol",
            "settings": "[1]",
        },
    )
    assert isinstance(bad, DialogErrors)
    assert bad.errors == {
        "replicas": "must be at least 1",
        "contact": "“nobody” is not an email address",
        "homepage": "“not a uri” is not a URI (scheme:…, such as https://…)",
        "tags": "cobol is not one of python, java, go",
        "settings": "must be a JSON object ({...})",
    }
    for replicas, message in (("11", "must be at most 10"), ("2.5", "must be a whole number")):
        again = await submit(app, dialog, {**GOOD, "replicas": replicas})
        assert isinstance(again, DialogErrors) and message in again.errors["replicas"]


async def test_the_template_gets_typed_values_and_none_for_other_answers(
    make_app: AppFactory, tmp_path: Path
) -> None:
    app = forms_app(make_app, tmp_path)
    dialog = await open_dialog(app, "/scaffold callboard-forms --dry-run")
    output = tmp_path / "out"
    reply = await submit(
        app,
        dialog,
        {
            **GOOD,
            "awsRegion": "eu-west-1",  # given, but for another cloud: not passed on
            "tags": "python, go",
            "settings": '{"tier": "gold"}',
            "enableDb": "yes",
            "dbName": "forms",
            "flavour": "vanilla",
            "apiToken": "tok-secret-9876",
        },
    )
    assert isinstance(reply, Reply) and not reply.error, reply.to_text()
    assert "tok-secret-9876" not in reply.to_text()
    entries = await app.services.audit.entries(limit=5)
    assert "tok-secret-9876" not in json.dumps([e.to_dict() for e in entries])
    assert entries[0].details["values"]["apiToken"] == SECRET_SHOWN
    service = app.services.scaffolder
    listing = await service.listing()
    template = listing.get("callboard-forms")
    assert template is not None and template.engine == "native"
    # the dry run's files are gone with its job folder: run it again through the CLI path's
    # output option to read what the template received
    reply = await service.submit(
        "callboard-forms",
        {
            **GOOD,
            "owner": "team-payments",
            "awsRegion": "eu-west-1",
            "tags": "python, go",
            "settings": '{"tier": "gold"}',
            "enableDb": "true",
            "dbName": "forms",
            "flavour": "vanilla",
        },
        await _requester(app),
        dry_run=True,
        output=output,
    )
    assert not reply.error, reply.to_text()
    parameters = json.loads((output / "parameters.json").read_text())
    assert parameters == {
        "name": "forms-demo",
        "owner": "group:default/team-payments",
        "cloud": "gcp",
        "gcpProject": "acme-forms-1",
        "replicas": 3,
        "contact": "ana@example.com",
        "tags": ["python", "go"],
        "settings": {"tier": "gold"},
        "flavour": "vanilla",
        "enableDb": True,
        "dbName": "forms",
        "internal": "x",  # ui:widget hidden: not asked, its default passed on
    }


async def _requester(app: Any) -> Any:
    from tests.integration.test_scaffold import CONSOLE_ANA

    return await app.services.scaffolder.requester_for(CONSOLE_ANA)


PAGE_IF = """\
apiVersion: scaffolder.backstage.io/v1beta3
kind: Template
metadata: {name: page-if}
spec:
  owner: team-a
  type: service
  parameters:
    - title: Cloud
      required: [name, cloudProvider]
      properties:
        name: {type: string}
        cloudProvider: {type: string, enum: [AWS, GCP]}
    - title: AWS
      if: ${{ parameters.cloudProvider === 'AWS' }}
      required: [awsRegion]
      properties:
        awsRegion: {type: string, enum: [us-east-1, eu-west-1]}
    - title: GCP
      if: ${{ parameters.cloudProvider === 'GCP' }}
      required: [gcpProjectId]
      properties:
        gcpProjectId: {type: string}
  steps: []
"""


async def test_a_pages_if_expression_is_read_as_its_when(
    make_app: AppFactory, tmp_path: Path
) -> None:
    """As Backstage's conditional-parameters-demo sample template has it (``if:`` on a page):
    choosing GCP does not demand the AWS page's fields."""
    template = tmp_path / "page-if.yaml"
    template.write_text(PAGE_IF)
    source = {"type": "file", "name": "tpl", "target": str(template)}
    app = scaffold_app(make_app, tmp_path, sources=[source])
    dialog = await open_dialog(app, "/scaffold page-if --dry-run")
    gcp = {"name": "page-if-demo", "cloudProvider": "GCP"}
    missing = await submit(app, dialog, gcp)
    assert isinstance(missing, DialogErrors)
    assert missing.errors == {"gcpProjectId": "is required when cloudProvider is GCP"}
    done = await submit(app, dialog, {**gcp, "gcpProjectId": "acme-1"})
    assert isinstance(done, Reply) and not done.error, done


UNASKED = REPO / "tests" / "fixtures" / "v1beta3" / "unasked"
UNASKED_NOTE = (
    "Layout (layout) is not asked here: it uses the form field AccordionField, which "
    "Callboard cannot show in chat"
)


async def test_an_optional_field_chat_cannot_ask_is_named_in_the_dialog(
    make_app: AppFactory, tmp_path: Path
) -> None:
    """Never dropped silently: the dialog carries a note naming the field and why, and the
    console prints it under the form's title; the template stays usable."""
    import io

    from adapters.console import run_dialog

    folder = tmp_path / "unasked"
    shutil.copytree(UNASKED, folder)
    app = scaffold_app(
        make_app,
        tmp_path,
        sources=[{"type": "file", "name": "tpl", "target": str(folder / "template.yaml")}],
    )
    dialog = await open_dialog(app, "/scaffold callboard-unasked --dry-run")
    assert [f.name for f in dialog.fields] == ["name", "owner"]
    assert dialog.notes == (UNASKED_NOTE,)
    answers = iter(["unasked-demo", ""])

    async def ask(prompt: str, secret: bool) -> str | None:
        return next(answers)

    out = io.StringIO()
    reply = await run_dialog(app, dialog, ask, out)
    assert f"(note) {UNASKED_NOTE}" in out.getvalue()
    assert not reply.error and "Dry run: unasked-demo from callboard-unasked" in reply.to_text()

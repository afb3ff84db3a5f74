"""Scaffolding: new projects from cookiecutter templates and Backstage Templates, in chat.

    settings.py      the ``scaffold:`` config section
    templates.py     finding templates: folders, git repositories, catalog Templates
    variables.py     cookiecutter.json / Backstage parameters → variables (nothing rendered)
    backstage.py     running a Template's fetch:cookiecutter step the way Backstage does
    v1beta3/         Backstage v1beta3 Templates run natively (expressions, actions, workflow)
    native.py        a native run in the render child, and what it asks to publish
    validate.py      dialog values → typed answers, or one error per field
    permissions.py   who may scaffold which template (config rules over catalog groups)
    render.py        cookiecutter in a child process without secrets (render_worker.py)
    publish.py       repository creation (file://, GitHub, GitLab) and the push
    audit.py         the audit log and the per-name claims
    service.py       the ``Scaffolder``: dialog, checks, and the run with its progress

A run: permission → validation (before anything renders) → claim the name → render in a fresh
temporary folder → create the repository → push → register the repository as a runtime
location and sync it → reply with the repository, the files and the new entity's card.
"""

"""Ownership attestation campaigns: owners confirm, dispute or correct what the catalog says.

    model.py     campaigns, items, answers; scopes and durations as typed (``parse_scope``)
    service.py   ``Attestations``: start a campaign, record answers, remind, status, evidence
    messages.py  the replies posted to team channels (buttons that run ``/attest …``)

A campaign's state is in the database (``bot.store.sql.attest``; ``bot.store.memory.attest``
in the fast tier), so it survives restarts; each reminder is claimed in the scheduler's claim
store (``ClaimStore``, schedule id ``attest:<id>``), so with several replicas exactly one posts
it.
"""

"""Scheduled and on-demand reports: ownership gaps, stale docs, catalog changes, digests.

    settings.py   the ``reports`` config section (and ``platform:channel`` targets)
    facts.py      the catalog read once: entities, owners, members, channels, docs freshness
    findings.py   ownership gaps and docs problems, each naming the entity, problem and fix
    changes.py    net changes (added, removed, owner changed) since the last digest
    analysis.py   one pass for a whole run, sliced per scope; digest metrics and trends
    render.py     reports as core ``Reply`` objects and as plain data (``--format json``)
    store.py      digest snapshots and channel faults; the insert-or-nothing claim helper
    delivery.py   posting through ``App.posters``: pacing, rate-limit retries, faults
    service.py    ``Reports``: what ``/report`` and ``callboard report`` call

``bot/scheduler.py`` runs them on cron schedules, exactly once across replicas.
"""

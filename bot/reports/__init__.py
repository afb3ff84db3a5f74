"""Scheduled and on-demand reports: ownership gaps, stale docs, catalog changes, digests.

    settings.py   the ``reports`` config section (and ``platform:channel`` targets)
    facts.py      the catalog read once: entities, owners, members, channels, docs freshness
    findings.py   ownership gaps and docs problems, each naming the entity, problem and fix
    changes.py    net changes (added, removed, owner changed) since the last digest
    analysis.py   one pass for a whole run, sliced per scope; digest metrics and trends
    render.py     reports as core ``Reply`` objects and as plain data (``--format json``)
    store.py      digest snapshots, channel faults, what a run reads and leaves behind
                  (the SQL behind ``bot.ports.ReportsStore`` is ``bot.store.sql.reports``)
    delivery.py   posting through the platforms' posters: pacing, rate-limit retries, faults
    service.py    ``Reports``: what ``/report`` calls; a ``ReportRun`` for scheduled runs

``bot.scheduler`` runs them on cron schedules (``/report`` through the dispatcher), exactly
once across replicas.
"""

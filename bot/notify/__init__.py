"""Change notifications: after each sync, each owning team hears what changed for it.

``bot.notify.plan`` turns one sync's change rows and the catalog's conditions (owner unknown,
docs stale) into one message per channel (pure); ``bot.notify.service.Notifier`` reads through
the ``NotifyStore`` port, claims the batch and each channel's message, and posts them through
the platforms' posters (``bot.reports.delivery``), holding what falls in quiet hours.
"""

"""Who is on call now: PagerDuty and Opsgenie behind ``bot.ports.OnCallDirectory``."""

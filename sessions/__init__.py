"""Live workshop sessions: scheduling, who is invited and attends, the calendar mapping, the outbox of invites,
reminders, and the one delivery mechanism both share."""

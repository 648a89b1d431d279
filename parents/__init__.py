"""The parent portal under /p/<token> (and the calendar links /c/<token>, RSVP /r/...): route map, lobby, watch,
RSVP, responses and privacy; the one token-to-parent resolver and the parent's page language."""

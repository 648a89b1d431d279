"""The trainer's composed pages: a course and a session with attendance, RSVPs, watched and responded figures."""

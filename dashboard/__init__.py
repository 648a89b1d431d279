"""The trainer's composed pages: home (today and next), a course and a session with attendance, RSVPs, watched and
responded figures."""

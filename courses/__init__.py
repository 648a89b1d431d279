"""Courses, parents, enrolments and both parent credentials (personal link and calendar token)."""

"""Schemathesis against /api/v1/openapi.json, in-process on the WSGI app with a coordinator's bearer token.

Every documented operation gets valid (positive) and invalid (negative) requests. Each answer must be no 5xx, a
documented status code with the documented content type, and a body that matches the documented schema. Half of
the cases get path ids of real rows, so the fuzzing reaches past the 404s into the services.
"""

from __future__ import annotations

import contextvars
import os
from datetime import timedelta

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from accounts import services as accounts
from core.db import utcnow
from courses import services as courses
from recordings.models import Recording, RecordingSource, RecordingState
from sessions import scheduling as sessions

pytestmark = pytest.mark.slow

#: Examples per operation and mode: about 20 operations x 2 modes x 2 databases stay well under two minutes.
#: FUZZ_EXAMPLES=500 runs a deeper search by hand.
MAX_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES") or 25)
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture
def world(db, create_user):
    """A coordinator with a token, a course with a parent, a session and a recording: real ids for the paths."""
    user = create_user("coordinator@example.org", name="Co", coordinator=True)
    course = courses.create_course(title="Voorlezen", trainers=[user])
    parent = courses.add_parent(name="Sanne", email="sanne@example.org")
    courses.enrol(course, parent)
    starts = (utcnow() + timedelta(days=3)).replace(minute=0, second=0, microsecond=0)
    session = sessions.schedule_session(course, title="Workshop", starts_local=starts, timezone="UTC")
    series = sessions.schedule_series(course, title="Reeks", first_local=starts + timedelta(hours=2), timezone="UTC",
                                      count=2)
    recording = Recording(course=course, session=session, source=RecordingSource.upload,
                          state=RecordingState.failed, failed_step="probing", error_message="kapot")
    db.session.add(recording)
    _row, token = accounts.create_api_token(user)
    db.session.commit()
    ids = {"course_id": course.id, "parent_id": parent.id, "session_id": session.id, "series_id": series.id,
           "recording_id": recording.id}
    return {"Authorization": f"Bearer {token}"}, ids


def _operations(app, headers):
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    schema.config.update(headers=headers)  # the token is not fuzzed: an invalid one only ever meets the 401
    return [result.ok() for result in schema.get_all_operations()]


def _call(case):
    # An empty context: each request gets its own app context and db session, as in production.
    return contextvars.Context().run(case.call)


@pytest.mark.parametrize("mode", [schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE])
def test_api_fuzz_gives_no_5xx_and_answers_match_the_schema(app, world, mode):
    headers, ids = world
    checks = CHECKS + ([negative_data_rejection] if mode is schemathesis.GenerationMode.NEGATIVE else [])
    failures = {}
    for operation in _operations(app, headers):

        # No shrinking: it can take minutes; the report still carries the failing request (as curl).
        @settings(max_examples=MAX_EXAMPLES, deadline=None, database=None, derandomize=True,
                  phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy(generation_mode=mode), real=st.booleans())
        def run(case, real):
            if real and case.path_parameters:
                case.path_parameters.update({k: ids[k] for k in case.path_parameters if k in ids})
            response = _call(case)
            case.validate_response(response, checks=checks, transport_kwargs={"app": app})

        try:
            run()
        except Unsatisfiable:
            continue  # negative mode: nothing in this operation can be made invalid (no parameters, no body)
        except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - collect every operation's failure
            failures[operation.label] = exc

    assert not failures, "\n\n".join(f"{label}: {exc!r}\n" + "\n".join(getattr(exc, "__notes__", []))
                                       for label, exc in failures.items())

"""Keyset pagination on every API list: `limit`, an opaque signed `cursor`, `{"items", "next"}` (docs/api.md)."""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from itsdangerous import URLSafeSerializer

from accounts import services as accounts
from activities.models import ActivityResponse, HomeActivity, ResponseKind
from core.db import utcnow
from courses import services as courses
from courses.models import Course, Parent
from sessions import scheduling
from sessions.calendar_models import RsvpAnswer, upsert_rsvp
from sessions.models import AttendanceEvent, AttendanceKind, WorkshopSession
from tests.activities.helpers import make_activity
from tests.fixtures.sql import statements

BASE = "http://ouderkamer.test"
#: Far enough ahead that a session at any rank is in the future; also the timestamps of activities and responses.
START = datetime(2031, 3, 3, 9, 0, tzinfo=UTC)
#: Sort ranks of the seeded rows: equal ranks give equal sort keys, so the id must break the tie.
SEED_RANKS = [10, 10, 20, 30, 30, 30, 40]
_numbers = itertools.count(1)


@dataclass
class World:
    course: Course
    session: WorkshopSession
    activity: HomeActivity
    responder: Parent
    headers: dict


@dataclass(frozen=True)
class ListCase:
    """One API list: its path, the key of an item's id, and how to add a row that sorts at `rank`."""

    name: str
    path: Callable[[World], str]
    add: Callable[[World, int], int]
    id_key: str = "id"
    deprecated_key: str | None = None


def _commit(row) -> int:
    from core.extensions import db

    db.session.commit()
    return row.id


def _add_course(world: World, rank: int) -> int:
    return _commit(courses.create_course(title=f"Cursus {rank:03d}", trainers=list(world.course.trainers)))


def _add_parent(world: World, rank: int) -> int:
    parent = courses.add_parent(name=f"Ouder {rank:03d}", email=f"ouder{next(_numbers)}@example.org")
    courses.enrol(world.course, parent)
    return _commit(parent)


def _add_session(world: World, rank: int) -> int:
    starts = START + timedelta(hours=rank)
    return _commit(scheduling.schedule_session(world.course, title=f"Workshop {rank}", starts_local=starts,
                                               timezone="UTC"))


def _add_activity(world: World, rank: int) -> int:
    activity = make_activity(world.course, kinds=("text",), title=f"Activiteit {rank}")
    activity.created_at = START - timedelta(minutes=rank)  # newest first: a higher rank is older
    return _commit(activity)


def _add_response(world: World, rank: int) -> int:
    from core.extensions import db

    response = ActivityResponse(activity_id=world.activity.id, parent_id=world.responder.id, kind=ResponseKind.text,
                                text=f"Antwoord {rank}", client_key=f"key-{next(_numbers)}",
                                created_at=START + timedelta(minutes=rank))
    db.session.add(response)
    return _commit(response)


CASES = [
    ListCase("courses", lambda w: "/api/v1/courses", _add_course, deprecated_key="courses"),
    ListCase("parents", lambda w: f"/api/v1/courses/{w.course.id}/parents", _add_parent, deprecated_key="parents"),
    ListCase("sessions", lambda w: f"/api/v1/courses/{w.course.id}/sessions", _add_session),
    ListCase("attendance", lambda w: f"/api/v1/sessions/{w.session.id}/attendance", _add_parent, id_key="parent_id"),
    ListCase("rsvps", lambda w: f"/api/v1/sessions/{w.session.id}/rsvps", _add_parent, id_key="parent_id"),
    ListCase("activities", lambda w: f"/api/v1/courses/{w.course.id}/activities", _add_activity,
             deprecated_key="activities"),
    ListCase("responses", lambda w: f"/api/v1/courses/{w.course.id}/responses", _add_response,
             deprecated_key="responses"),
]
#: The OpenAPI paths of the lists in CASES.
LIST_PATHS = {"/api/v1/courses", "/api/v1/courses/{course_id}/parents", "/api/v1/courses/{course_id}/sessions",
              "/api/v1/sessions/{session_id}/attendance", "/api/v1/sessions/{session_id}/rsvps",
              "/api/v1/courses/{course_id}/activities", "/api/v1/courses/{course_id}/responses"}

CASES_BY_NAME = {c.name: c for c in CASES}
by_name = pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])


@pytest.fixture
def world(db, trainer, course, create_workshop_session) -> World:
    session = create_workshop_session(starts_at=START - timedelta(days=1))
    activity = make_activity(course, kinds=("text",))
    responder = courses.add_parent(name="Antwoorder", email="antwoord@example.org")
    courses.enrol(course, responder)
    _row, token = accounts.create_api_token(trainer)
    db.session.commit()
    return World(course, session, activity, responder, {"Authorization": f"Bearer {token}"})


def _relative(url: str) -> str:
    assert url.startswith(BASE + "/api/v1/")
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def _get(client, world: World, url: str) -> dict:
    response = client.get(url, headers=world.headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def _ids(case: ListCase, body: dict) -> list[int]:
    return [item[case.id_key] for item in body["items"]]


def _all(client, world: World, case: ListCase) -> list[int]:
    body = _get(client, world, f"{case.path(world)}?limit=200")
    assert body["next"] is None
    return _ids(case, body)


def _walk(client, world: World, case: ListCase, url: str) -> list[list[int]]:
    pages = []
    while url:
        body = _get(client, world, url)
        pages.append(_ids(case, body))
        url = body["next"] and _relative(body["next"])
    return pages


def _next_cursor(client, world: World, case: ListCase) -> str:
    body = _get(client, world, f"{case.path(world)}?limit=1")
    return parse_qs(urlsplit(body["next"]).query)["cursor"][0]


@by_name
def test_list_next_walks_every_row_exactly_once_in_order(client, world, case):
    before = _all(client, world, case)
    seeded = [case.add(world, rank) for rank in SEED_RANKS]
    everything = _all(client, world, case)

    pages = _walk(client, world, case, f"{case.path(world)}?limit=3")

    assert sorted(everything) == sorted(before + seeded)
    assert [len(p) for p in pages[:-1]] == [3] * (len(pages) - 1) and 1 <= len(pages[-1]) <= 3
    assert len(pages) == -(-len(everything) // 3)
    assert [i for page in pages for i in page] == everything


@by_name
def test_list_next_is_stable_when_rows_are_added_between_pages(client, world, case):
    for rank in SEED_RANKS:
        case.add(world, rank)
    original = _all(client, world, case)
    first = _get(client, world, f"{case.path(world)}?limit=3")

    added = [case.add(world, rank) for rank in (0, 35, 99)]  # before page 1, inside the rest, after the end
    rest = _walk(client, world, case, _relative(first["next"]))

    seen = _ids(case, first) + [i for page in rest for i in page]
    assert len(seen) == len(set(seen))
    assert [i for i in seen if i in original] == original
    assert set(seen) - set(original) <= set(added)


@by_name
def test_list_default_limit_is_50_and_200_is_the_most(client, world, case):
    for rank in range(51 - len(_all(client, world, case))):
        case.add(world, rank)

    default = _get(client, world, case.path(world))
    largest = _get(client, world, f"{case.path(world)}?limit=200")

    assert len(default["items"]) == 50
    assert parse_qs(urlsplit(default["next"]).query)["limit"] == ["50"]
    assert (len(largest["items"]), largest["next"]) == (51, None)


@by_name
@pytest.mark.parametrize("limit", ["201", "0", "-1", "abc", "1.5", "", " 5", "+5", "٣", "99999999999999999999"])
def test_list_limit_out_of_range_or_not_a_whole_number_is_422(client, world, case, limit):
    response = client.get(case.path(world), query_string={"limit": limit}, headers=world.headers)

    assert response.status_code == 422
    assert response.get_json() == {"error": {"code": "invalid", "field": "limit",
                                             "message": "Give a whole number from 1 to 200."}}


def _tampered(cursor: str) -> str:
    flipped = "A" if cursor[5] != "A" else "B"
    return cursor[:5] + flipped + cursor[6:]


@by_name
@pytest.mark.parametrize("how", ["tampered", "truncated", "garbage", "empty", "unsigned", "other list",
                                 "wrong types", "wrong length"])
def test_list_bad_cursor_is_422_never_500(app, client, world, case, how):
    for rank in (10, 20):
        case.add(world, rank)
    cursor = _next_cursor(client, world, case)
    path = case.path(world)
    signed = URLSafeSerializer(app.config["SECRET_KEY"], salt="ouderkamer-api-cursor:" + path)
    bad = {"tampered": _tampered(cursor), "truncated": cursor[:-3], "garbage": "not-a-cursor", "empty": "",
           "unsigned": cursor.rpartition(".")[0],
           "other list": URLSafeSerializer(app.config["SECRET_KEY"], salt="ouderkamer-api-cursor:/api/v1/courses/0")
           .dumps(signed.loads(cursor)),
           # Signed with the real key but not what this list issues (as after a change of its sort keys).
           "wrong types": signed.dumps([{"dt": "2030-01-01T00:00:00+00:00"}, "x"]),
           "wrong length": signed.dumps([1])}[how]

    response = client.get(path, query_string={"cursor": bad}, headers=world.headers)

    assert response.status_code == 422
    assert response.get_json() == {"error": {"code": "invalid", "field": "cursor",
                                             "message": "This cursor is not valid; start again from the first page."}}


@by_name
def test_list_answers_items_next_and_the_deprecated_key(client, world, case):
    for rank in (10, 20):
        case.add(world, rank)

    body = _get(client, world, f"{case.path(world)}?limit=1")

    assert set(body) == {"items", "next"} | ({case.deprecated_key} if case.deprecated_key else set())
    if case.deprecated_key:
        assert body[case.deprecated_key] == body["items"]
    assert re.fullmatch(re.escape(BASE + case.path(world)) + r"\?limit=1&cursor=[\w.-]+", body["next"])


@by_name
def test_list_pages_in_sql_at_a_cost_that_stays_flat(client, db, world, case):
    for rank in SEED_RANKS:
        case.add(world, rank)
    second = _relative(_get(client, world, f"{case.path(world)}?limit=3")["next"])
    _get(client, world, second)  # first use creates what a page creates once (parents' calendar tokens)

    with statements(db) as few:
        _get(client, world, second)
    for rank in range(50, 80):
        case.add(world, rank)
    with statements(db) as many:
        _get(client, world, second)

    paged = [s for s in many if "page_key_0" in s]
    assert len(few) == len(many)
    assert len(paged) == 1 and re.search(r"\) [<>] \(.*ORDER BY .* LIMIT", paged[0], re.S)


@by_name
def test_list_ignores_unknown_query_parameters_named_like_its_path(client, world, case):
    for rank in (10, 20):
        case.add(world, rank)

    body = _get(client, world, f"{case.path(world)}?limit=1&course_id=0&session_id=0&endpoint=x")

    assert len(body["items"]) == 1
    assert "course_id=0" not in body["next"] and "endpoint" not in body["next"]


def test_attendance_on_a_later_page_is_computed_for_its_own_parents(client, db, world):
    parents = [db.session.get(Parent, _add_parent(world, rank)) for rank in SEED_RANKS]
    last = parents[-1]
    db.session.add_all([
        AttendanceEvent(session_id=world.session.id, parent_id=last.id, kind=AttendanceKind.joined,
                        at=utcnow() - timedelta(minutes=7)),
        AttendanceEvent(session_id=world.session.id, parent_id=last.id, kind=AttendanceKind.left, at=utcnow()),
    ])
    db.session.commit()

    url = f"/api/v1/sessions/{world.session.id}/attendance?limit=3"
    items = []
    while url:
        body = _get(client, world, url)
        items += body["items"]
        url = body["next"] and _relative(body["next"])

    assert [i for i in items if i["attended"]] == [{"parent_id": last.id, "name": "Ouder 040", "attended": True,
                                                    "minutes": 7}]
    assert len(items) == len(SEED_RANKS) + 1


def test_rsvps_on_a_later_page_carry_their_answers(client, db, world):
    parents = [db.session.get(Parent, _add_parent(world, rank)) for rank in SEED_RANKS]
    upsert_rsvp(world.session.id, parents[-1].id, RsvpAnswer.coming)
    db.session.commit()

    first = _get(client, world, f"/api/v1/sessions/{world.session.id}/rsvps?limit=4")
    second = _get(client, world, _relative(first["next"]))

    assert [(i["name"], i["answer"]) for i in second["items"]] == [
        ("Ouder 030", None), ("Ouder 030", None), ("Ouder 030", None), ("Ouder 040", "coming")]
    assert second["next"] is None


def test_attendance_of_chosen_invitees_pages_only_them(client, db, world):
    chosen = [db.session.get(Parent, _add_parent(world, rank)) for rank in SEED_RANKS[:5]]
    _add_parent(world, 50)  # enrolled, not invited
    session = scheduling.schedule_session(world.course, title="Klein", starts_local=START, timezone="UTC",
                                          invitees=chosen)
    db.session.commit()

    pages = _walk(client, world, CASES_BY_NAME["attendance"], f"/api/v1/sessions/{session.id}/attendance?limit=2")

    assert pages == [[chosen[0].id, chosen[1].id], [chosen[2].id, chosen[3].id], [chosen[4].id]]


# --- Every list is paginated and documented as such ---------------------------------------------------------------


def _is_list(schema: dict) -> bool:
    """An array response, or an object with an array of objects at the top (a list in an envelope)."""
    if schema.get("type") == "array":
        return True
    return any(p.get("type") == "array" and p.get("items", {}).get("type") == "object"
               for p in schema.get("properties", {}).values())


def test_every_get_list_route_is_paginated_and_in_this_table(app, client):
    document = client.get("/api/v1/openapi.json").get_json()
    lists = set()
    for rule in app.url_map.iter_rules():
        meta = getattr(app.view_functions[rule.endpoint], "openapi", None)
        if rule.endpoint.startswith("api.") and "GET" in rule.methods and _is_list(meta["response"]):
            lists.add("/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule).lstrip("/"))
            assert meta["paginated"], f"{rule.rule} lists without `paginated=True`"

    assert lists == LIST_PATHS
    assert {p for p, ops in document["paths"].items()
            if "get" in ops and _is_list(ops["get"]["responses"]["200"]["content"]["application/json"]["schema"])
            } == LIST_PATHS


@pytest.mark.parametrize("path", sorted(LIST_PATHS))
def test_openapi_documents_limit_cursor_and_the_page_shape(client, path):
    get = client.get("/api/v1/openapi.json").get_json()["paths"][path]["get"]

    query = {p["name"]: p for p in get["parameters"] if p["in"] == "query"}
    schema = get["responses"]["200"]["content"]["application/json"]["schema"]
    assert query["limit"]["schema"] == {"type": "integer", "minimum": 1, "maximum": 200, "default": 50}
    assert query["cursor"]["schema"] == {"type": "string"}
    assert (schema["required"], schema["properties"]["next"]["type"]) == (["items", "next"], ["string", "null"])
    assert all(schema["properties"][key].get("deprecated") for key in set(schema["properties"]) - {"items", "next"})
    assert "422" in get["responses"]

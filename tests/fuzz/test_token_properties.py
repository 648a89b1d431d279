"""Property tests (hypothesis) for the secrets in links and headers: personal links, calendar tokens, API tokens.

Any string opens nothing but its own parent: random strings and near misses of a real token find nobody, the
pages behind them answer 404 (never a 500), and a random Authorization header gets a 401.
"""

from __future__ import annotations

from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from accounts import services as accounts
from core.tokens import hash_token, new_token, same_hash
from courses import links
from courses.links import find_feed, parent_feed_token
from courses.links import resolve_parent as parent_for_token

#: Any text a URL or a header could carry, surrogates excepted (they cannot be encoded at all).
TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=120)
URL_SAFE = st.text(st.characters(codec="ascii", exclude_characters="\x00"), min_size=1, max_size=80)
RELAXED = settings(max_examples=150, deadline=None, derandomize=True,
                   suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def near_misses(token: str):
    """Strings one small step away from `token`: a character changed, dropped or added, or the case changed."""
    index = st.integers(min_value=0, max_value=len(token) - 1)
    return st.one_of(
        st.tuples(index, st.characters(codec="ascii")).map(lambda p: token[:p[0]] + p[1] + token[p[0] + 1:]),
        index.map(lambda i: token[:i] + token[i + 1:]),
        st.tuples(index, st.characters(codec="ascii")).map(lambda p: token[:p[0]] + p[1] + token[p[0]:]),
        st.just(token.swapcase()), st.just(token + " "), st.just(" " + token), st.just(token + "\x00"),
    ).filter(lambda s: s != token)


@pytest.fixture
def two_parents(db, course, create_parent):
    """Two parents with personal links and calendar tokens; returns [(parent, link token, calendar token)]."""
    family = []
    for name in ("Sanne", "Amal"):
        parent = create_parent(name, course=course, email=f"{name.lower()}@example.org")
        token = links.issue_personal_link(parent).rsplit("/", 1)[1]
        family.append((parent, token, parent_feed_token(parent)))
    db.session.commit()
    return family


@given(token=TEXT, stored=TEXT)
@settings(max_examples=300, deadline=None, derandomize=True)
def test_same_hash_matches_only_the_token_itself(token, stored):
    assert same_hash(token, hash_token(token))
    assert same_hash(token, hash_token(stored)) == (token == stored)


def test_new_tokens_do_not_repeat():
    assert len({new_token() for _ in range(2000)}) == 2000


@RELAXED
@given(data=st.data())
def test_random_strings_and_near_misses_find_no_parent(two_parents, data):
    (sanne, sanne_token, sanne_feed), (amal, amal_token, amal_feed) = two_parents
    real = data.draw(st.sampled_from([sanne_token, amal_token, sanne_feed, amal_feed]))
    guess = data.draw(st.one_of(TEXT, near_misses(real)))
    assume(guess not in (sanne_token, amal_token, sanne_feed, amal_feed))

    assert links.find_parent_by_token(guess) is None
    assert find_feed(guess) is None
    assert parent_for_token(guess) is None


def test_each_real_token_finds_exactly_its_own_parent(two_parents):
    for parent, token, feed_token in two_parents:
        assert links.find_parent_by_token(token) is parent
        assert find_feed(feed_token).parent is parent
        assert parent_for_token(feed_token) is parent


@RELAXED
@given(guess=URL_SAFE)
def test_pages_behind_a_random_token_answer_404(client, two_parents, create_workshop_session, guess):
    assume(guess not in {t for _p, token, feed in two_parents for t in (token, feed)})
    quoted = quote(guess, safe="")
    paths = [f"/p/{quoted}", f"/p/{quoted}/export.json", f"/c/{quoted}.ics", f"/c/{quoted}/join/1",
             f"/p/{quoted}/s/1", f"/p/{quoted}/watch/{'0' * 32}"]

    statuses = {path: client.get(path, follow_redirects=True).status_code for path in paths}

    assert set(statuses.values()) == {404}, statuses


@RELAXED
@given(header=st.text(st.characters(codec="latin-1", exclude_characters="\r\n\x00"), max_size=200))
def test_api_with_a_random_authorization_header_gets_401(client, db, trainer, header):
    _row, token = accounts.create_api_token(trainer)
    assume(token not in header)

    response = client.get("/api/v1/me", headers={"Authorization": header})

    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "unauthorized"

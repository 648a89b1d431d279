"""The organisation scope: in a request that acts for one organisation, every ORM SELECT sees only its rows.

Each domain package registers, next to its models, how a row of a model belongs to an organisation (a column, or a
subquery through the course or the parent). The request enters the scope once, where the caller is known (the user
loader, the API token check, the one parent-token resolver); from then on `db.session.get`, `select(...)` and lazy
loads of those models are filtered, so a view that forgets a check still cannot reach another organisation's rows.
Workers and the CLI run unscoped: their tasks take ids that a scoped request produced.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import g, has_app_context
from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session, with_loader_criteria
from sqlalchemy.sql.elements import ColumnElement

#: Execution option that lets one statement look across organisations (the token resolvers, which find the owner).
ALL_ORGANISATIONS = {"all_organisations": True}

_criteria: dict[type, Callable[[int], ColumnElement]] = {}


def register(model: type, criteria: Callable[[int], ColumnElement]) -> None:
    """Declare how rows of `model` belong to an organisation: `criteria(organisation_id)` is a WHERE clause."""
    _criteria[model] = criteria


def enter(organisation_id: int, *, replace: bool = True) -> None:
    """Scope the rest of this request (app context) to one organisation."""
    if replace or g.get("organisation_id") is None:
        g.organisation_id = organisation_id


def current() -> int | None:
    """The organisation this request is scoped to, or None (workers, CLI, anonymous pages)."""
    return g.get("organisation_id") if has_app_context() else None


def registered() -> tuple[type, ...]:
    """The models that are scoped (for the tests that check every tenant table is covered)."""
    return tuple(_criteria)


@event.listens_for(Session, "do_orm_execute")
def _scope_statement(state: ORMExecuteState) -> None:
    organisation_id = current()
    if organisation_id is None or not state.is_select or state.is_column_load:
        return
    if state.execution_options.get("all_organisations"):
        return
    options = [with_loader_criteria(mapper.class_, _criteria[mapper.class_](organisation_id), include_aliases=True)
               for mapper in state.all_mappers if mapper.class_ in _criteria]
    if options:
        state.statement = state.statement.options(*options)

"""The JSON API under /api/v1: one error shape and an OpenAPI 3.1 document built from the routes.

Domain packages declare their API views with `operation`, which only records them; the composition root builds the
blueprint from the records (`api_blueprint`), so no domain module imports a module that defines a blueprint.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime

from flask import Blueprint, Flask, Response, current_app, jsonify, request
from itsdangerous import BadData, URLSafeSerializer
from sqlalchemy import Select, TypeDecorator, literal, tuple_
from sqlalchemy.sql.elements import ColumnElement

from core.errors import DomainError, api_error
from core.extensions import db
from core.urls import MAX_ID, external_url

#: (rule, endpoint, view, method) of every API view declared so far, in declaration order.
OPERATIONS: list[tuple[str, str, Callable, str]] = []

ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "field"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "field": {"type": ["string", "null"]},
            },
        }
    },
}


_TYPES = {"string": str, "integer": int, "boolean": bool, "array": list, "null": type(None)}


class ApiInputError(DomainError):
    """A JSON body does not match its schema (messages in English, as in the rest of the API)."""


def _type_ok(value, kinds: list[str]) -> bool:
    # bool is an int in Python; JSON keeps them apart.
    return any(isinstance(value, _TYPES[k]) and not (k == "integer" and isinstance(value, bool)) for k in kinds)


def _check_value(name: str, value, spec: dict) -> None:
    kinds = spec["type"] if isinstance(spec["type"], list) else [spec["type"]]
    if not _type_ok(value, kinds):
        raise ApiInputError("Wrong type; expected " + " or ".join(kinds) + ".", field=name)
    if isinstance(value, list) and not all(type(v) is int and 0 < v <= MAX_ID for v in value):
        raise ApiInputError("Give a list of ids.", field=name)
    if type(value) is int and abs(value) > MAX_ID:  # no column holds more; the database would refuse it
        raise ApiInputError("This number is too large.", field=name)
    if "enum" in spec and value not in spec["enum"]:
        raise ApiInputError("Use one of: " + ", ".join(map(str, spec["enum"])) + ".", field=name)
    if isinstance(value, str) and "\x00" in value:  # PostgreSQL text cannot hold a NUL character
        raise ApiInputError("Text may not contain NUL characters.", field=name)
    if isinstance(value, str) and len(value) > spec.get("maxLength", len(value)):
        raise ApiInputError(f"At most {spec['maxLength']} characters.", field=name)


def json_body(schema: dict, *, required: tuple[str, ...] | None = None) -> dict:
    """The request's JSON object checked against a flat schema: known fields, JSON types, enums, lengths, ids."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ApiInputError("Send a JSON object.")
    for name, value in body.items():
        spec = schema["properties"].get(name)
        if spec is None:
            raise ApiInputError("Unknown field.", field=name)
        _check_value(name, value, spec)
    for name in schema.get("required", ()) if required is None else required:
        if name not in body:
            raise ApiInputError("This field is required.", field=name)
    return body


def operation(rule: str, method: str = "GET", *, summary: str, tag: str, response: dict, status: int = 200,
              request: dict | None = None, auth: bool = True, errors: tuple[int, ...] = (),
              paginated: bool = False, deprecated_key: str | None = None) -> Callable:
    """Register an API view and describe it for the OpenAPI document in the same place.

    :param paginated: a list (see `paginate`): `response` is the schema of one item; the document gets the `limit`
        and `cursor` query parameters, the `{"items", "next"}` envelope and a 422.
    :param deprecated_key: the list's old top-level key, answered beside `items` until the next release.
    """

    def decorator(fn: Callable) -> Callable:
        fn.openapi = {"summary": summary, "tag": tag, "status": status, "request": request, "auth": auth,
                      "response": page_schema(response, deprecated_key) if paginated else response,
                      "errors": tuple(sorted({*errors, 422})) if paginated else errors, "paginated": paginated}
        OPERATIONS.append((rule, fn.__name__, fn, method))
        return fn

    return decorator


# --- Lists: keyset pagination -----------------------------------------------------------------------------------

#: `limit` of a list when none is given, and the most it may be (a larger one is refused, not clamped).
DEFAULT_LIMIT, MAX_LIMIT = 50, 200

PAGE_PARAMETERS = [
    {"name": "limit", "in": "query", "required": False, "description": f"Items per page, 1-{MAX_LIMIT}; more is a 422",
     "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT}},
    {"name": "cursor", "in": "query", "required": False,
     "description": "Opaque; taken from the previous page's `next` URL, which carries it already",
     "schema": {"type": "string"}},
]


def page_schema(item: dict, deprecated_key: str | None = None) -> dict:
    """The schema of one page of a list: `items`, the `next` page's absolute URL (null on the last page)."""
    properties = {"items": {"type": "array", "items": item},
                  "next": {"type": ["string", "null"], "description": "The next page's URL; null: this is the last"}}
    if deprecated_key:
        properties[deprecated_key] = {"type": "array", "items": item, "deprecated": True,
                                      "description": "The same list as `items`; removed in the next release"}
    return {"type": "object", "required": ["items", "next"], "properties": properties}


@dataclass(frozen=True)
class Page:
    """One page of a list: its rows (model instances) and the absolute URL of the next page, or None."""

    rows: list
    next: str | None

    def response(self, items: list, *, deprecated_key: str | None = None) -> Response:
        """The JSON answer: `{"items": items, "next": url}`, plus the deprecated old key when given."""
        return jsonify({"items": items, "next": self.next, **({deprecated_key: items} if deprecated_key else {})})


def _limit() -> int:
    raw = request.args.get("limit")
    if raw is None:
        return DEFAULT_LIMIT
    if not re.fullmatch(r"[0-9]{1,9}", raw) or not 1 <= int(raw) <= MAX_LIMIT:
        raise ApiInputError(f"Give a whole number from 1 to {MAX_LIMIT}.", field="limit")
    return int(raw)


def _cursor_serializer() -> URLSafeSerializer:
    # Signed per list (the path is in the salt), so a cursor works only on the list that issued it.
    return URLSafeSerializer(current_app.secret_key, salt="ouderkamer-api-cursor:" + request.path)


def _dump(value):
    if isinstance(value, datetime):
        return {"dt": value.isoformat()}
    return {"d": value.isoformat()} if isinstance(value, date) else value


def _load(value, kind: type | None):
    if isinstance(value, dict) and kind in (datetime, date):
        value = kind.fromisoformat(value["dt" if kind is datetime else "d"])
    # A key of another type: a cursor made before the list's sort keys changed.
    if type(value) is not kind and (kind is not None or not isinstance(value, str | int)):
        raise ValueError(f"cursor value {value!r} does not fit its sort key")
    return value


def _python_type(key: ColumnElement) -> type | None:
    type_ = key.type.impl_instance if isinstance(key.type, TypeDecorator) else key.type
    try:
        return type_.python_type
    except NotImplementedError:
        return None


def _after(keys: tuple[ColumnElement, ...]) -> tuple | None:
    raw = request.args.get("cursor")
    if raw is None:
        return None
    try:
        values = _cursor_serializer().loads(raw)
        if not isinstance(values, list) or len(values) != len(keys):
            raise ValueError("cursor of another shape")
        return tuple(_load(value, _python_type(key)) for key, value in zip(keys, values))
    except (BadData, ValueError, KeyError, TypeError):
        raise ApiInputError("This cursor is not valid; start again from the first page.", field="cursor") from None


def paginate(query: Select, *keys: ColumnElement, descending: bool = False) -> Page:
    """One page of `query` for the current request's `limit` and `cursor`, paged in SQL; ApiInputError (422) on
    a bad limit or cursor.

    :param keys: the sort keys, NOT NULL, the last one unique (the id): the page is ORDER BY keys LIMIT limit + 1
        with WHERE (keys) > (the previous page's last row), so inserts never shift a page (no OFFSET).
    :param descending: every key descending (newest first).
    """
    limit, after = _limit(), _after(keys)
    if after is not None:
        bound = tuple_(*(literal(value, key.type) for key, value in zip(keys, after)))
        query = query.where(tuple_(*keys) < bound if descending else tuple_(*keys) > bound)
    labelled = [key.label(f"page_key_{i}") for i, key in enumerate(keys)]
    order = [key.desc() if descending else key.asc() for key in keys]
    rows = db.session.execute(query.add_columns(*labelled).order_by(None).order_by(*order).limit(limit + 1)).all()
    if len(rows) <= limit:
        return Page([row[0] for row in rows], None)
    cursor = _cursor_serializer().dumps([_dump(value) for value in rows[limit - 1][1:]])
    # Only limit and cursor go on: a list with filters must add them here (and sign them into the cursor).
    return Page([row[0] for row in rows[:limit]],
                external_url(request.endpoint, **request.view_args, limit=limit, cursor=cursor))


def _domain_error(exc: DomainError):
    response = api_error("invalid", str(exc.message), getattr(exc, "status", 422), exc.field)
    if len(getattr(exc, "errors", ())) > 1:  # every broken rule, not one per round trip
        body = response.get_json()
        body["error"]["errors"] = [{"field": e.field, "message": str(e.message)} for e in exc.errors]
        response.set_data(jsonify(body).get_data())
    return response


def api_blueprint() -> Blueprint:
    """A new `api` blueprint (one per app) holding every declared operation, with the API's error shape."""
    blueprint = Blueprint("api", __name__, url_prefix="/api/v1")
    for rule, endpoint, view, method in OPERATIONS:
        blueprint.add_url_rule(rule, endpoint=endpoint, view_func=view, methods=[method])
    blueprint.register_error_handler(DomainError, _domain_error)
    return blueprint


def _path(rule: str) -> tuple[str, list[dict]]:
    params = []
    for conv, name in re.findall(r"<(?:(\w+):)?(\w+)>", rule):
        schema = {"type": "integer"} if conv == "int" else {"type": "string"}
        params.append({"name": name, "in": "path", "required": True, "schema": schema})
    return re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule), params


def _responses(meta: dict) -> dict:
    ok = {"description": "OK", "content": {"application/json": {"schema": meta["response"]}}}
    responses = {str(meta["status"]): {"description": "No content"} if meta["status"] == 204 else ok}
    error = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    codes = set(meta["errors"]) | ({401} if meta["auth"] else set())
    for code in sorted(codes):
        responses[str(code)] = {"description": {401: "Missing or invalid token", 404: "Not found",
                                                422: "Invalid input", 507: "Not enough disk space; try later"}
                                .get(code, "Error"), **error}
    return responses


def _operation_doc(view: Callable, method: str, params: list[dict]) -> dict:
    meta = getattr(view, "openapi", None)
    if meta is None:
        raise LookupError(f"API view {view.__name__} has no OpenAPI description")
    doc = {"summary": meta["summary"], "tags": [meta["tag"]], "operationId": view.__name__,
           "responses": _responses(meta)}
    params = params + (PAGE_PARAMETERS if meta.get("paginated") else [])
    if params:
        doc["parameters"] = params
    if meta["request"] is not None:
        doc["requestBody"] = {"required": True, "content": {"application/json": {"schema": meta["request"]}}}
    doc["security"] = [{"bearer": []}] if meta["auth"] else []
    return doc


def openapi_document(app: Flask) -> dict:
    """The OpenAPI 3.1 document for every registered /api/v1 route."""
    paths: dict[str, dict] = {}
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith("api."):
            continue
        path, params = _path(rule.rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            view = app.view_functions[rule.endpoint]
            paths.setdefault(path, {})[method.lower()] = _operation_doc(view, method, params)
    return {
        "openapi": "3.1.0",
        "info": {"title": "Ouderkamer API", "version": "1.0.0",
                 "description": "Courses, parents, live sessions and recordings. Authenticate with an API token "
                                "from your account page: `Authorization: Bearer <token>`."},
        "servers": [{"url": app.config["PUBLIC_BASE_URL"]}],
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": {"Error": ERROR_SCHEMA},
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


@operation("/openapi.json", summary="This OpenAPI document", tag="meta", response={"type": "object"}, auth=False)
def openapi_json():
    return jsonify(openapi_document(current_app))

"""The JSON API blueprint under /api/v1: one error shape and an OpenAPI 3.1 document built from the routes."""

from __future__ import annotations

import re
from collections.abc import Callable

from flask import Blueprint, Flask, current_app, jsonify, request

from core.errors import DomainError, api_error
from core.urls import MAX_ID

api = Blueprint("api", __name__, url_prefix="/api/v1")

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
              request: dict | None = None, auth: bool = True, errors: tuple[int, ...] = ()) -> Callable:
    """Register an API view and describe it for the OpenAPI document in the same place."""

    def decorator(fn: Callable) -> Callable:
        fn.openapi = {"summary": summary, "tag": tag, "response": response, "status": status,
                      "request": request, "auth": auth, "errors": errors}
        api.add_url_rule(rule, endpoint=fn.__name__, view_func=fn, methods=[method])
        return fn

    return decorator


@api.errorhandler(DomainError)
def _domain_error(exc: DomainError):
    return api_error("invalid", str(exc.message), getattr(exc, "status", 422), exc.field)


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

"""One builder of OpenAPI operation entries for the route modules' ``OPENAPI`` dicts."""

from __future__ import annotations

__all__ = ["operation"]

ERROR_BODY = {"description": "error body {\"error\": {\"field\", \"reason\"}}"}


def operation(summary: str, tag: str, *, auth: str | None = None, ok: str = "200", body: dict | None = None,
              errors: tuple = ("400", "404")) -> dict:
    """An operation: its summary and tag, the success status, the error statuses (each with the
    one error body), who must call it (``auth``: "the secretariat", "a clerk"...) and an example body."""
    op: dict = {"summary": summary, "tags": [tag],
                "responses": {ok: {"description": "OK"}, **{e: ERROR_BODY for e in errors}}}
    if auth:
        op["security"] = [{"bearer": []}]
        op["description"] = f"Needs {auth}'s token."
    if body is not None:
        op["requestBody"] = {"content": {"application/json": {"example": body}}}
    return op

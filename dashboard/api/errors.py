"""The API's one error type and the one place that turns it, or any HTTP error, into JSON:
`{"error": {"code": ..., "message": ..., "param": ...}}`; and the gzip of its bodies."""
from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterator

import orjson
from flask import Response, request
from werkzeug.exceptions import HTTPException

JSON_OPTIONS = orjson.OPT_NAIVE_UTC | orjson.OPT_UTC_Z | orjson.OPT_SERIALIZE_NUMPY
# Below this a gzip header costs more than it saves.
GZIP_MIN_BYTES = 1400
# A full CSV is tens of MB: level 1 compresses it ~5x at several times the speed of level 5.
CSV_GZIP_LEVEL = 1

# The code each HTTP status gets when an error does not name its own.
_CODES = {400: "bad_request", 404: "not_found", 405: "method_not_allowed", 500: "internal_error"}


class ApiError(Exception):
    """A request the API refuses: an HTTP status, a stable machine-readable code, a sentence
    for people, and the parameter at fault when there is one."""

    def __init__(self, status: int, message: str, *, code: str | None = None, param: str | None = None,
                 allow: list[str] | None = None):
        super().__init__(message)
        self.status = status
        self.code = code or _CODES.get(status, "error")
        self.message = message
        self.param = param
        self.allow = allow

    @classmethod
    def bad_param(cls, param: str, message: str) -> ApiError:
        return cls(400, message, code="invalid_parameter", param=param)

    @classmethod
    def from_http(cls, exc: HTTPException) -> ApiError:
        return cls(exc.code or 500, exc.description or exc.name)


def json_response(payload, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """`payload` as JSON (orjson: NaN can never leak out as a bare token; datetimes as ISO 8601
    UTC), gzipped when the client accepts it and the body is big enough to gain."""
    body = orjson.dumps(payload, option=JSON_OPTIONS)
    response = Response(body, status=status, mimetype="application/json", headers=headers)
    response.vary.add("Accept-Encoding")
    if len(body) >= GZIP_MIN_BYTES and "gzip" in request.accept_encodings:
        response.set_data(gzip.compress(body, compresslevel=5))
        response.headers["Content-Encoding"] = "gzip"
    return response


def gzip_stream(chunks: Iterator[bytes], level: int = CSV_GZIP_LEVEL) -> Iterator[bytes]:
    """A streamed body gzipped as it goes (a block out per block in, so memory stays flat)."""
    packer = zlib.compressobj(level, zlib.DEFLATED, 31)  # wbits 31: the gzip container
    for chunk in chunks:
        if out := packer.compress(chunk):
            yield out
    yield packer.flush()


def error_response(error: ApiError | HTTPException) -> Response:
    """The one builder of the error shape."""
    if isinstance(error, HTTPException):
        error = ApiError.from_http(error)
    body = {"error": {"code": error.code, "message": error.message, "param": error.param}}
    headers = {"Allow": ", ".join(error.allow)} if error.allow else None
    return json_response(body, error.status, headers)

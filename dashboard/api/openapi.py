"""The OpenAPI 3 document of the API, built from the same limits the handlers enforce."""
from __future__ import annotations

from typing import Any

from dashboard.api.params import LOG_LIMIT_DEFAULT, LOG_LIMIT_MAX, MAX_TYPES, RUN_NAME_MAX, TYPE_PATTERN
from dashboard.config import Settings
from dashboard.db.models import RUN_STATUSES

INT32_MAX = 2**31 - 1


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {**schema, "nullable": True}


def _obj(properties: dict[str, Any], required: list[str] | None = None, **extra) -> dict[str, Any]:
    return {"type": "object", "properties": properties,
            "required": list(properties) if required is None else required, **extra}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*statuses: int) -> dict[str, Any]:
    text = {400: "A parameter is invalid (the error names it).", 404: "No such experiment or run."}
    return {str(s): _json(_ref("Error"), text[s]) for s in statuses}


def _id(name: str, what: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "description": f"The {what}'s id.",
            "schema": {"type": "integer", "minimum": 1, "maximum": INT32_MAX}, "example": 1}


def _query_int(name: str, description: str, **schema) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "description": description,
            "schema": {"type": "integer", "format": "int64", **schema}}


def openapi_document(settings: Settings) -> dict[str, Any]:
    ts = {"type": "string", "format": "date-time"}
    experiment_path = [_id("experiment_id", "experiment")]
    run_path = experiment_path + [_id("run_id", "run")]
    series_params = [
        {"name": "types", "in": "query", "required": False, "style": "form", "explode": False,
         "description": "Only these metric types, comma-separated (or the parameter repeated). Aliases "
                        "such as `lr` and `grad-norm` map to their canonical types; a type the run "
                        "does not have comes back with no points.",
         "schema": {"type": "array", "minItems": 1, "maxItems": MAX_TYPES,
                    "items": {"type": "string", "pattern": TYPE_PATTERN}}},
        _query_int("step_min", "Only steps >= step_min (inclusive); not greater than step_max."),
        _query_int("step_max", "Only steps <= step_max (inclusive)."),
    ]
    schemas = {
        "Error": _obj({"error": _obj({
            "code": {"type": "string"},
            "message": {"type": "string"},
            "param": _nullable({"type": "string"}),
        })}),
        "Experiment": _obj({
            "id": {"type": "integer"},
            "name": {"type": "string"},
            "description": _nullable({"type": "string"}),
            "created_at": ts,
            "run_count": {"type": "integer"},
            "last_activity": _nullable(ts),
        }, required=["id", "name", "created_at"]),
        "MetricSummary": _obj({
            "count": {"type": "integer"},
            "first_step": {"type": "integer"},
            "last_step": {"type": "integer"},
            "last_value": _nullable({"type": "number"}),
            "min": _nullable({"type": "number"}),
            "max": _nullable({"type": "number"}),
        }),
        "Run": _obj({
            "id": {"type": "integer"},
            "experiment_id": {"type": "integer"},
            "name": {"type": "string"},
            "status": {"type": "string", "enum": list(RUN_STATUSES)},
            "is_complete": {"type": "boolean"},
            "command": _nullable({"type": "string"}),
            "started_at": _nullable(ts),
            "finished_at": _nullable(ts),
            "updated_at": _nullable(ts),
            "exit_code": _nullable({"type": "integer"}),
            "metrics": {"type": "object", "additionalProperties": _ref("MetricSummary"),
                        "description": "Summary per metric type, kept current at every batch."},
        }),
        "Point": _obj({
            "step": {"type": "integer"},
            "value": _nullable({"type": "number"}),
            "timestamp": ts,
            "nonfinite": {"type": "string", "enum": ["nan", "inf", "-inf"],
                          "description": "Present when the value is not finite (`value` is then null)."},
        }, required=["step", "value", "timestamp"]),
        "Metrics": _obj({
            "experiment_id": {"type": "integer"},
            "run_id": {"type": "integer"},
            "run_name": {"type": "string"},
            "status": {"type": "string", "enum": list(RUN_STATUSES)},
            "is_complete": {"type": "boolean"},
            "has_metrics": {"type": "boolean"},
            "available_types": {"type": "array", "items": {"type": "string"}},
            "metrics": {"type": "object", "additionalProperties": {"type": "array", "items": _ref("Point")}},
            "point_counts": {"type": "object", "additionalProperties": {"type": "integer"},
                             "description": "Points per series in the step range, before any reduction."},
            "downsampled": {"type": "boolean",
                            "description": "True when a series has fewer points here than in point_counts."},
            "message": {"type": "string", "description": "Present when the run has no metrics."},
        }, required=["experiment_id", "run_id", "run_name", "status", "is_complete", "has_metrics",
                     "available_types", "metrics", "point_counts", "downsampled"]),
        "Logs": _obj({
            "chunks": {"type": "array", "items": _obj({"seq": {"type": "integer"}, "text": {"type": "string"}})},
            "next_after": {"type": "integer", "description": "Pass as `after` to get the next chunks."},
            "is_complete": {"type": "boolean"},
        }),
        "RunPatch": _obj({"name": {"type": "string", "minLength": 1, "maxLength": RUN_NAME_MAX,
                                   "pattern": r"^[^\u0000-\u001f]*[^\s\u0000-\u001f][^\u0000-\u001f]*$"}},
                         additionalProperties=False),
    }
    run_ops = "/api/experiments/{experiment_id}/runs/{run_id}"
    paths = {
        "/api/experiments": {"get": {
            "summary": "Every experiment, with its run count and last activity.",
            "operationId": "listExperiments",
            "responses": {"200": _json(_obj({"experiments": {"type": "array", "items": _ref("Experiment")}}),
                                       "The experiments.")},
        }},
        "/api/experiments/{experiment_id}": {
            "parameters": experiment_path,
            "get": {"summary": "One experiment.", "operationId": "getExperiment",
                    "responses": {"200": _json(_ref("Experiment"), "The experiment."), **_errors(404)}},
            "delete": {"summary": "Delete an experiment with its runs, their points and logs.",
                       "operationId": "deleteExperiment",
                       "responses": {"204": {"description": "Deleted."}, **_errors(404)}},
        },
        "/api/experiments/{experiment_id}/runs": {
            "parameters": experiment_path,
            "get": {"summary": "The experiment's runs.", "operationId": "listRuns",
                    "responses": {"200": _json(_obj({"experiment_id": {"type": "integer"},
                                                     "runs": {"type": "array", "items": _ref("Run")}}),
                                               "The runs."), **_errors(404)}},
        },
        run_ops: {
            "parameters": run_path,
            "get": {"summary": "One run.", "operationId": "getRun",
                    "responses": {"200": _json(_ref("Run"), "The run."), **_errors(404)}},
            "patch": {"summary": "Rename a run.", "operationId": "renameRun",
                      "requestBody": {"required": True,
                                      "content": {"application/json": {"schema": _ref("RunPatch")}}},
                      "responses": {"200": _json(_ref("Run"), "The renamed run."), **_errors(400, 404)}},
            "delete": {"summary": "Delete a run with its points and log.", "operationId": "deleteRun",
                       "responses": {"204": {"description": "Deleted."}, **_errors(404)}},
        },
        f"{run_ops}/logs": {
            "parameters": run_path,
            "get": {"summary": "The run's log chunks in order, after a sequence number.",
                    "operationId": "getLogs",
                    "parameters": [
                        _query_int("after", "Chunks with seq > after.", minimum=-1, default=-1),
                        _query_int("limit", "At most this many chunks.", minimum=1, maximum=LOG_LIMIT_MAX,
                                   default=LOG_LIMIT_DEFAULT),
                    ],
                    "responses": {"200": _json(_ref("Logs"), "The chunks."), **_errors(400, 404)}},
        },
        f"{run_ops}/metrics": {
            "parameters": run_path,
            "get": {"summary": "The run's metric series, reduced for drawing when long.",
                    "description": "Series longer than max_points keep, per step bucket, their lowest "
                                   "and highest point, and their first and last points, so a spike "
                                   "always survives (about max_points points). A run without metrics "
                                   "answers 200 with has_metrics false.",
                    "operationId": "getMetrics",
                    "parameters": series_params + [
                        _query_int("max_points", "Points per series at most (about).", minimum=2,
                                   maximum=settings.max_points_limit, default=settings.max_points_default),
                    ],
                    "responses": {"200": _json(_ref("Metrics"), "The series."), **_errors(400, 404)}},
        },
        f"{run_ops}/metrics.csv": {
            "parameters": run_path,
            "get": {"summary": "Every point as CSV (name,step,value,timestamp), streamed.",
                    "operationId": "getMetricsCsv",
                    "parameters": series_params,
                    "responses": {"200": {"description": "The points.",
                                          "content": {"text/csv": {"schema": {"type": "string"}}}},
                                  **_errors(400, 404)}},
        },
    }
    return {
        "openapi": "3.0.3",
        "info": {"title": "trainboard API", "version": "1",
                 "description": "Experiments, runs, their logs and metric series (SPEC §5). Errors are "
                                "JSON: {\"error\": {\"code\", \"message\", \"param\"}}."},
        "paths": paths,
        "components": {"schemas": schemas},
    }

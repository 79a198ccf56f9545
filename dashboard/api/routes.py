"""The API's routes (SPEC §5) as a Flask Blueprint: thin views over the query layer."""
from __future__ import annotations

from flask import Blueprint, Response, current_app, request
from sqlalchemy import Engine
from werkzeug.exceptions import HTTPException

from dashboard.api.errors import ApiError, error_response, gzip_stream, json_response
from dashboard.api.metrics import OverviewCache, csv_chunks, metrics_payload
from dashboard.api.openapi import openapi_document
from dashboard.api.params import (
    parse_logs_query,
    parse_metrics_query,
    parse_run_patch,
    parse_series_filter,
)
from dashboard.config import Settings
from dashboard.db import queries, runs

# Ids are Integer columns: a larger number names nothing (and would overflow a bind).
ID = "int(min=1, max=2147483647)"
EXPERIMENT = f"/experiments/<{ID}:experiment_id>"
RUN = f"{EXPERIMENT}/runs/<{ID}:run_id>"


def build_blueprint(engine: Engine, settings: Settings) -> Blueprint:
    api = Blueprint("api", __name__, url_prefix="/api")
    cache = OverviewCache()
    stale = settings.stale_after_s

    def experiment_or_404(experiment_id: int) -> dict:
        experiment = queries.get_experiment(engine, experiment_id)
        if experiment is None:
            raise ApiError(404, f"There is no experiment {experiment_id}.", param="experiment_id")
        return experiment

    def run_or_404(experiment_id: int, run_id: int) -> dict:
        run = queries.get_run(engine, run_id, stale_after_s=stale)
        if run is None or run["experiment_id"] != experiment_id:
            experiment_or_404(experiment_id)  # the experiment is checked only to name the culprit
            raise ApiError(404, f"Experiment {experiment_id} has no run {run_id}.", param="run_id")
        return run

    @api.get("/openapi.json")
    def openapi():
        return json_response(openapi_document(settings))

    @api.get("/experiments")
    def experiments():
        return json_response({"experiments": queries.list_experiments(engine)})

    @api.get(EXPERIMENT)
    def experiment(experiment_id: int):
        return json_response(experiment_or_404(experiment_id))

    @api.delete(EXPERIMENT)
    def delete_experiment(experiment_id: int):
        experiment_or_404(experiment_id)
        runs.delete_experiment(engine, experiment_id)
        return Response(status=204)

    @api.get(f"{EXPERIMENT}/runs")
    def experiment_runs(experiment_id: int):
        experiment_or_404(experiment_id)
        return json_response({"experiment_id": experiment_id,
                              "runs": queries.list_runs(engine, experiment_id, stale_after_s=stale)})

    @api.get(RUN)
    def run(experiment_id: int, run_id: int):
        return json_response(run_or_404(experiment_id, run_id))

    @api.patch(RUN)
    def rename_run(experiment_id: int, run_id: int):
        run_or_404(experiment_id, run_id)
        runs.rename_run(engine, run_id, parse_run_patch(request.get_json(force=True, silent=True)))
        return json_response(run_or_404(experiment_id, run_id))

    @api.delete(RUN)
    def delete_run(experiment_id: int, run_id: int):
        run_or_404(experiment_id, run_id)
        runs.delete_run(engine, run_id)
        return Response(status=204)

    @api.get(f"{RUN}/logs")
    def logs(experiment_id: int, run_id: int):
        after, limit = parse_logs_query(request.args)
        run = run_or_404(experiment_id, run_id)
        chunks = queries.log_chunks(engine, run_id, after=after, limit=limit)
        return json_response({
            "chunks": [{"seq": seq, "text": text} for seq, text in chunks],
            "next_after": chunks[-1][0] if chunks else after,
            "is_complete": run["is_complete"],
        })

    @api.get(f"{RUN}/metrics")
    def metrics(experiment_id: int, run_id: int):
        query = parse_metrics_query(request.args, max_points_default=settings.max_points_default,
                                    max_points_limit=settings.max_points_limit)
        run = run_or_404(experiment_id, run_id)
        return json_response(metrics_payload(engine, experiment_id, run, query, cache))

    @api.get(f"{RUN}/metrics.csv")
    def metrics_csv(experiment_id: int, run_id: int):
        flt = parse_series_filter(request.args)
        run = run_or_404(experiment_id, run_id)
        chunks, headers = csv_chunks(engine, run, flt), {"Content-Disposition": f'attachment; filename="run-{run_id}-metrics.csv"'}
        if "gzip" in request.accept_encodings:
            chunks, headers = gzip_stream(chunks), {**headers, "Content-Encoding": "gzip"}
        response = Response(chunks, mimetype="text/csv", headers=headers)
        response.vary.add("Accept-Encoding")
        return response

    # Blueprint handlers are consulted before the app's, so ApiError needs one here too.
    api.register_error_handler(ApiError, error_response)
    api.register_error_handler(HTTPException, error_response)

    @api.errorhandler(Exception)
    def internal_error(exc: Exception):
        current_app.logger.exception("API error on %s %s", request.method, request.path)
        return error_response(ApiError(500, "The server failed to answer this request; the error is logged."))

    return api

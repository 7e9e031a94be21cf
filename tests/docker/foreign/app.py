"""A model server mpkit did not build: Flask under gunicorn's sync workers, as many sellers write
one. It scores ten numbers per record with weights from /opt/ml/model/weights.txt when SageMaker
unpacked a model.tar.gz there, else its own. Flask refuses a body over MAX_CONTENT_LENGTH with 413
from the headers alone, without reading the body, as nginx does."""

import csv
import io
import json
import os

from flask import Flask, Response, request

WEIGHTS_FILE = "/opt/ml/model/weights.txt"
WEIGHTS = ([float(w) for w in open(WEIGHTS_FILE).read().split()] if os.path.exists(WEIGHTS_FILE) else [1.0] * 10)
TYPES = ("text/csv", "application/json")

app = Flask(__name__)
app.config["MAX_CONTENT_LENGTH"] = 6 * 1024 * 1024


def fail(status, message):
    return Response(json.dumps({"error": message}), status=status, mimetype="application/json")


@app.get("/ping")
def ping():
    return Response(status=200)


@app.post("/invocations")
def invocations():
    content_type = (request.content_type or "").split(";")[0].strip()
    accept = (request.headers.get("Accept") or "").split(";")[0].strip()
    accept = "text/csv" if accept in ("", "*/*") else accept
    if content_type not in TYPES:
        return fail(415, f"unsupported Content-Type {content_type!r}")
    if accept not in TYPES:
        return fail(406, f"unsupported Accept {accept!r}")
    body = request.get_data()  # 413 here for a body over MAX_CONTENT_LENGTH, unread
    try:
        if content_type == "text/csv":
            rows = [[float(v) for v in row] for row in csv.reader(io.StringIO(body.decode())) if row]
        else:
            rows = [[float(v) for v in row] for row in json.loads(body)["instances"]]
    except (ValueError, KeyError, TypeError, csv.Error, UnicodeDecodeError) as exc:
        return fail(400, f"bad body: {exc}")
    if not rows or any(len(r) != len(WEIGHTS) for r in rows):
        return fail(400, f"each record needs {len(WEIGHTS)} numbers")
    scores = [round(sum(w * x for w, x in zip(WEIGHTS, r, strict=True)), 6) for r in rows]
    if accept == "text/csv":
        return Response("".join(f"{s}\n" for s in scores), mimetype="text/csv")
    return Response(json.dumps({"predictions": scores}), mimetype="application/json")

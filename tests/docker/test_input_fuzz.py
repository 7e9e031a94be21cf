"""A bounded, seeded fuzz of bad requests against the real image, run as SageMaker runs it: every
invalid body is answered 4xx (never 2xx, which Marketplace bills, never 5xx), and /ping stays 200
throughout. The requests go to the container's own loopback through the sidecar."""

from __future__ import annotations

import json
import random

import pytest

pytestmark = pytest.mark.docker
REQUESTS = 2400
GOOD = [47, "male", 22.5, 82, 131, 66.8, 41, 3, 4.7536, 89]
NUMERIC = [0, 2, 3, 4, 5, 6, 7, 8, 9]
BAD_NUMBERS = ["inf", "-inf", "Infinity", "+Infinity", "1e400", "-1e999", "nan", "NaN", "٤٧", "２２.5", "1_000", "0x10", "1e",
               "--1", "1.2.3", "abc", "\x00", "\ud800", "½", "1 2", "true", "None", "1e+", ".", "-", "+"]
BAD_CATEGORIES = ["banana", "MALE", "Female", "2.5", "\x00male", "male\x00", " male", "female ", "\ud800", "m", "männlich", "1"]


def _csv_row(cells) -> str:
    return ",".join('"' + str(c).replace('"', '""') + '"' if "," in str(c) else str(c) for c in cells)


def bad_requests(seed: int = 20261201):
    """(content type, body, what is wrong): each body breaks the declared inputs in one way."""
    rng = random.Random(seed)
    while True:
        kind = rng.choice(["csv-number", "csv-category", "json-number", "json-category", "json-type", "json-syntax",
                           "jsonl-number", "shape", "garbage", "json-deep", "json-digits"])
        # Now and then a body of more than 8 KB, which the image parses by its fast paths.
        many = [list(GOOD) for _ in range(rng.randint(250, 400) if rng.random() < 0.15 else rng.randint(1, 30))]
        target = rng.randrange(len(many))
        if kind == "csv-number":
            many[target][rng.choice(NUMERIC)] = rng.choice(BAD_NUMBERS)
            yield "text/csv", "\n".join(_csv_row(r) for r in many).encode("utf-8", "surrogatepass") + b"\n", kind
        elif kind == "csv-category":
            many[target][1] = rng.choice(BAD_CATEGORIES)
            yield "text/csv", "\n".join(_csv_row(r) for r in many).encode("utf-8", "surrogatepass") + b"\n", kind
        elif kind in ("json-number", "jsonl-number"):
            # A raw token where a number belongs: JSON's reader takes NaN and Infinity, the others are
            # valid JSON of another type than declared.
            token = rng.choice(["NaN", "Infinity", "-Infinity", "1e400", '"47"', "true", "[1]", '{"v": 1}'])
            lines = ["[" + ", ".join(token if (i, j) == (target, column) else json.dumps(c) for j, c in enumerate(r)) + "]"
                     for i, r in enumerate(many) for column in [rng.choice(NUMERIC) if i == target else -1]]
            if kind == "json-number":
                yield "application/json", ('{"instances": [' + ", ".join(lines) + "]}").encode(), kind
            else:
                yield "application/jsonlines", "".join(line + "\n" for line in lines).encode(), kind
        elif kind == "json-category":
            many[target][1] = rng.choice(BAD_CATEGORIES + [2.5, 1, True, [], {"v": "male"}])
            yield "application/json", json.dumps({"instances": many}).encode(), kind
        elif kind == "json-type":
            obj = dict(zip(["age", "sex", "bmi"], GOOD[:3], strict=True))
            obj[rng.choice(["age", "bmi"])] = rng.choice(["47", "22.5", True, False, [], {}])
            yield "application/json", json.dumps({"instances": [obj]}).encode(), kind
        elif kind == "json-syntax":
            text = json.dumps({"instances": many})
            cut = rng.randrange(1, len(text))
            variant = rng.choice([text[:cut] + "}" * rng.randint(1, 3), '{"instances": [[1, 2,]]}', "{'a': 1}"])
            try:
                json.loads(variant)
                variant = text[:cut]  # the extra braces happened to close it: a cut-off body is never valid
            except ValueError:
                pass
            yield "application/json", variant.encode(), kind
            yield "application/json", b'{"instances": [{"age": 47, "age": 48, "sex": "male", "bmi": 22.5}]}', "json-duplicate-key"
        elif kind == "shape":
            del many[target][rng.randrange(len(GOOD))]
            yield "text/csv", "\n".join(_csv_row(r) for r in many).encode() + b"\n", kind
        elif kind == "garbage":
            yield rng.choice(["text/csv", "application/json", "application/jsonlines"]), bytes(
                rng.randrange(256) for _ in range(rng.randint(1, 300))), kind
        elif kind == "json-deep":
            depth = rng.randint(1000, 100000)
            yield "application/json", b"[" * depth + b"]" * depth, kind
        else:  # json-digits
            yield "application/json", ('{"instances": [[' + "9" * rng.randint(4301, 20000) + ', "male", 22.5, 82, 131, 66.8, '
                                       '41, 3, 4.75, 89]]}').encode(), kind


def test_thousands_of_bad_requests_get_4xx_and_ping_stays_up(server):
    statuses, wrong = {}, []
    for n, (content_type, body, kind) in enumerate(bad_requests()):
        if n == REQUESTS:
            break
        reply = server.request("POST", "/invocations", body, {"Content-Type": content_type, "Accept": "application/json"},
                               timeout=30)
        statuses[reply.status] = statuses.get(reply.status, 0) + 1
        if reply.status is None or not 400 <= reply.status < 500:
            wrong.append((kind, reply.status, body[:120], reply.body[:200]))
        if n % 100 == 0:
            assert server.request("GET", "/ping", timeout=2).status == 200, f"/ping failed after {n} bad requests"
    assert wrong == [], f"{len(wrong)} of {REQUESTS} not answered 4xx; first: {wrong[:5]}"
    assert sum(statuses.values()) == REQUESTS and server.request("GET", "/ping", timeout=2).status == 200

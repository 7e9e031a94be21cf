"""A small emulator of the AWS Marketplace Catalog API's change sets, which moto does not have:
StartChangeSet and DescribeChangeSet over HTTP in the service's rest-json protocol, so the real
boto3 client talks to it as to AWS. It knows a set of product entity IDs; a change set against
any other entity fails as the Catalog fails it (ErrorDetailList), otherwise it succeeds. It keeps
every change set it was sent, with its Intent, for the tests to read. Idempotent on
ClientRequestToken, as the service is."""

from __future__ import annotations

import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse


class CatalogEmulator:
    def __init__(self, products: set[str]):
        self.products = set(products)
        self.change_sets: dict[str, dict] = {}
        self.tokens: dict[str, str] = {}
        emulator = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _reply(self, status: int, data: dict, error: str | None = None):
                body = json.dumps(data).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                if error:
                    self.send_header("x-amzn-ErrorType", error)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
                if urlparse(self.path).path != "/StartChangeSet":
                    return self._reply(404, {"message": "unknown operation"}, "ResourceNotFoundException")
                if body.get("Catalog") != "AWSMarketplace":
                    return self._reply(400, {"Message": "Catalog must be AWSMarketplace"}, "ValidationException")
                token = body.get("ClientRequestToken")
                if token in emulator.tokens:
                    found = emulator.change_sets[emulator.tokens[token]]
                    return self._reply(200, {"ChangeSetId": found["ChangeSetId"], "ChangeSetArn": found["ChangeSetArn"]})
                change_set_id = uuid.uuid4().hex[:25]
                changes = []
                for change in body["ChangeSet"]:
                    entity = change.get("Entity", {}).get("Identifier")
                    errors = [] if entity in emulator.products else [
                        {"ErrorCode": "ENTITY_NOT_FOUND", "ErrorMessage": f"Entity {entity} was not found"}]
                    changes.append({"ChangeType": change["ChangeType"], "Entity": change["Entity"],
                                    "DetailsDocument": change.get("DetailsDocument"), "ErrorDetailList": errors})
                record = {"ChangeSetId": change_set_id, "ChangeSetArn": f"arn:aws:aws-marketplace:us-east-1:123456789012:"
                          f"AWSMarketplace/ChangeSet/{change_set_id}", "Intent": body.get("Intent", "APPLY"),
                          "Status": "FAILED" if any(c["ErrorDetailList"] for c in changes) else "SUCCEEDED",
                          "ChangeSet": changes}
                if record["Status"] == "FAILED":
                    record["FailureCode"] = "CLIENT_ERROR"
                emulator.change_sets[change_set_id] = record
                if token:
                    emulator.tokens[token] = change_set_id
                self._reply(200, {"ChangeSetId": change_set_id, "ChangeSetArn": record["ChangeSetArn"]})

            def do_GET(self):
                url = urlparse(self.path)
                query = parse_qs(url.query)
                found = emulator.change_sets.get((query.get("changeSetId") or [""])[0])
                if url.path != "/DescribeChangeSet" or not found:
                    return self._reply(404, {"Message": "change set not found"}, "ResourceNotFoundException")
                self._reply(200, found)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()

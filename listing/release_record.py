"""The release record: what `mpkit release` has made in the Catalog for one product (its entity
IDs, each version's delivery option, each change set it started), written after every change, so a
run cut off anywhere carries on from it. One file per product and target, beside the publish
records: `.mpkit/release/<target>/<product>.json`."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

from package.publish_record import read_record, record_path, write_json_atomically


class ReleaseRecord:
    def __init__(self, path: Path, data: dict | None = None, persist: bool = True):
        self.path = path
        self._data = data or {}
        for key in ("change_sets", "versions"):
            self._data.setdefault(key, {})
        self.persist = persist

    @staticmethod
    def path_for(root: Path, product: str, target: str) -> Path:
        return record_path(root, "release", target, product)

    @classmethod
    def load(cls, path: Path, persist: bool = True) -> "ReleaseRecord":
        return cls(path, read_record(path, persist), persist=persist)

    # ---- the product
    @property
    def product_id(self) -> str | None:
        return self._data.get("product_id")

    @property
    def offer_id(self) -> str | None:
        return self._data.get("offer_id")

    def entities(self, *, product_id: str | None, offer_id: str | None) -> None:
        if product_id:
            self._data["product_id"] = product_id
        if offer_id:
            self._data["offer_id"] = offer_id
        self.save()

    # ---- change sets, by plan key and intent
    def change_set(self, key: str, intent: str, sha256: str) -> dict | None:
        """The run of this plan and intent, when it was for this exact request."""
        entry = self._data["change_sets"].get(key) or {}
        return entry.get(intent) if entry.get("sha256") == sha256 else None

    def started(self, key: str, intent: str, sha256: str, change_set_id: str, attempt: int = 0) -> None:
        entry = self._data["change_sets"].setdefault(key, {})
        if entry.get("sha256") != sha256:
            entry.clear()
            entry["sha256"] = sha256
        entry[intent] = {"id": change_set_id, "status": "PREPARING", "attempt": attempt, "at": _now()}
        self.save()

    def finished(self, key: str, intent: str, status: str, errors: list) -> None:
        entry = self._data["change_sets"][key][intent]
        entry.update(status=status, errors=errors, at=_now())
        self.save()

    # ---- versions
    def version(self, title: str) -> dict:
        return dict(self._data["versions"].get(title) or {})

    def versions(self) -> dict:
        return json.loads(json.dumps(self._data["versions"]))

    def set_version(self, title: str, **facts) -> None:
        self._data["versions"].setdefault(title, {}).update({k: v for k, v in facts.items() if v is not None})
        self.save()

    def to_dict(self) -> dict:
        return json.loads(json.dumps(self._data, default=str))

    def save(self) -> None:
        if self.persist:
            write_json_atomically(self.path, self._data)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")

"""The release record: what `mpkit release` has made in the Catalog for one product (its entity
IDs, each version's delivery option, each change set it started), written after every change, so a
run cut off anywhere carries on from it. One file per product and target, beside the publish
records: `.mpkit/release/<target>/<product>.json`."""

from __future__ import annotations

import json

from package.publish_record import JsonRecord, utc_now


class ReleaseRecord(JsonRecord):
    KIND = "release"
    SECTIONS = ("change_sets", "versions")

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
        entry[intent] = {"id": change_set_id, "status": "PREPARING", "attempt": attempt, "at": utc_now()}
        self.save()

    def finished(self, key: str, intent: str, status: str, errors: list) -> None:
        entry = self._data["change_sets"][key][intent]
        entry.update(status=status, errors=errors, at=utc_now())
        self.save()

    # ---- versions
    def version(self, title: str) -> dict:
        return dict(self._data["versions"].get(title) or {})

    def versions(self) -> dict:
        return json.loads(json.dumps(self._data["versions"]))

    def set_version(self, title: str, **facts) -> None:
        self._data["versions"].setdefault(title, {}).update({k: v for k, v in facts.items() if v is not None})
        self.save()


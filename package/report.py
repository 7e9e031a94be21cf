"""Check results and the report: a table for people, JSON for CI and the listing, JUnit XML for
CI dashboards. A check has an id, the rule in a sentence, its source key, the measured value,
the limit, a status and a fix hint."""

from __future__ import annotations

import json
import platform
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from xml.etree import ElementTree as ET

PASS, WARN, FAIL = "pass", "warn", "fail"


@dataclass
class Check:
    id: str
    rule: str
    source: str
    status: str
    measured: object = None
    limit: object = None
    hint: str = ""
    details: list = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def check(id: str, rule: str, source: str, ok: bool, measured=None, limit=None, hint: str = "",
          details=None, warn_only: bool = False) -> Check:
    status = PASS if ok else (WARN if warn_only else FAIL)
    return Check(id, rule, source, status, measured, limit, "" if ok else hint, list(details or []))


@dataclass
class Report:
    subject: dict
    checks: list[Check] = field(default_factory=list)
    performance: list[dict] = field(default_factory=list)
    batch: dict | None = None
    started: float = field(default_factory=time.time)

    def add(self, *checks: Check) -> None:
        self.checks.extend(checks)

    @property
    def failed(self) -> list[Check]:
        return [c for c in self.checks if c.status == FAIL]

    @property
    def summary(self) -> dict:
        counts = {s: sum(c.status == s for c in self.checks) for s in (PASS, WARN, FAIL)}
        return {"verdict": "fail" if counts[FAIL] else "pass", **counts, "seconds": round(time.time() - self.started, 1)}

    def to_dict(self) -> dict:
        return {"subject": self.subject, "summary": self.summary, "machine": machine(),
                "checks": [c.to_dict() for c in self.checks], "performance": self.performance, "batch": self.batch}

    def table(self) -> str:
        rows = [("status", "check", "measured", "limit", "source")]
        for c in self.checks:
            rows.append((c.status.upper(), c.id, _short(c.measured), _short(c.limit), c.source))
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in rows]
        lines += failure_lines(self.checks)
        s = self.summary
        lines.append(f"\n{s['verdict'].upper()}: {s['pass']} passed, {s['warn']} warnings, {s['fail']} failed in {s['seconds']} s")
        return "\n".join(lines)

    def junit(self) -> str:
        suite = ET.Element("testsuite", name=f"mpkit validate {self.subject.get('name', '')}".strip(),
                           tests=str(len(self.checks)), failures=str(len(self.failed)), skipped="0",
                           time=str(self.summary["seconds"]))
        for c in self.checks:
            case = ET.SubElement(suite, "testcase", classname=f"mpkit.{c.source}", name=c.id)
            text = f"{c.rule}\nmeasured: {_short(c.measured)}\nlimit: {_short(c.limit)}\n" + "\n".join(map(str, c.details))
            if c.status == FAIL:
                ET.SubElement(case, "failure", message=f"{c.rule} ({c.source})", type="fail").text = f"{text}\nfix: {c.hint}"
            else:
                ET.SubElement(case, "system-out").text = text + (f"\nwarning; fix: {c.hint}" if c.status == WARN else "")
        return ET.tostring(ET.ElementTree(suite).getroot(), encoding="unicode", xml_declaration=True)

    def write(self, folder: Path) -> dict[str, Path]:
        folder.mkdir(parents=True, exist_ok=True)
        paths = {"json": folder / "validation.json", "junit": folder / "validation.junit.xml", "table": folder / "validation.txt"}
        paths["json"].write_text(json.dumps(self.to_dict(), indent=1, default=str))
        paths["junit"].write_text(self.junit())
        paths["table"].write_text(self.table() + "\n")
        return paths


def failure_lines(checks: list[Check]) -> list[str]:
    """Each check that did not pass: its rule and source, up to ten details, and the fix."""
    lines = []
    for c in checks:
        if c.status != PASS:
            lines.append(f"\n{c.status.upper()} {c.id}: {c.rule} ({c.source})")
            lines += [f"  - {detail}" for detail in c.details[:10]]
            if c.hint:
                lines.append(f"  fix: {c.hint}")
    return lines


_AT = re.compile(r"(?P<file>[^\s:]+\.ya?ml):(?P<line>\d+):")


def annotations(checks: list[Check], default_file: str) -> list[str]:
    """GitHub Actions workflow commands for the checks that did not pass, each at the manifest
    line its fix or details name (else the manifest's first line)."""
    out = []
    for c in checks:
        if c.status == PASS:
            continue
        found = next((m for text in [c.hint, *map(str, c.details)] if (m := _AT.search(text or ""))), None)
        file, line = (found["file"], found["line"]) if found else (default_file, "1")
        message = f"{c.rule} ({c.source}); measured {_short(c.measured)}" + (f"; fix: {c.hint}" if c.hint else "")
        message = message.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
        kind = "error" if c.status == FAIL else "warning"
        out.append(f"::{kind} file={file},line={line},title=mpkit {c.id}::{message}")
    return out


def machine() -> dict:
    import os

    return {"cpus": len(os.sched_getaffinity(0)), "processor": platform.processor() or platform.machine(),
            "system": f"{platform.system()} {platform.release()}"}


def _short(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3g}"
    text = str(value)
    return text if len(text) <= 40 else text[:37] + "..."

"""The audit hook validate injects: it reports egress and still runs the image's own sitecustomize."""

from __future__ import annotations

import os
import subprocess
import sys

from validation.egress_audit import PREFIX, SITECUSTOMIZE, events


def run(tmp_path, code: str, image_sitecustomize: str | None = None) -> subprocess.CompletedProcess:
    audit, image = tmp_path / "audit", tmp_path / "image"
    audit.mkdir()
    image.mkdir()
    (audit / "sitecustomize.py").write_text(SITECUSTOMIZE)
    if image_sitecustomize:
        (image / "sitecustomize.py").write_text(image_sitecustomize)
    env = {**os.environ, "PYTHONPATH": f"{audit}{os.pathsep}{image}"}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)


def test_reports_a_name_lookup_and_a_connection(tmp_path):
    code = ("import socket\ntry: socket.getaddrinfo('weights.example.com', 443)\nexcept OSError: pass\n"
            "s = socket.socket()\ns.settimeout(0.01)\ntry: s.connect(('192.0.2.1', 443))\nexcept OSError: pass\n")
    found = events(run(tmp_path, code).stderr)
    assert found == ["resolve weights.example.com", "connect 192.0.2.1:443"]


def test_loopback_is_not_egress(tmp_path):
    result = run(tmp_path, "import socket\nsocket.getaddrinfo('localhost', 8080)\n")
    assert PREFIX not in result.stderr


def test_the_images_own_sitecustomize_still_runs(tmp_path):
    result = run(tmp_path, "import builtins\nprint(getattr(builtins, 'SELLER_SETUP', 'missing'))",
                 image_sitecustomize="import builtins\nbuiltins.SELLER_SETUP = 'ran'\n")
    assert result.stdout.strip() == "ran", result.stderr

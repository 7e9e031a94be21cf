"""The one scanner for credentials and private keys, used by `build` (the staged build context,
refused before the image is made) and by `validate` and `publish` (the image's whole file
system). Files are read as streams, whatever their size; a finding names the file and the kind
of secret, never the secret."""

from __future__ import annotations

import re
from pathlib import Path
from typing import BinaryIO, Iterable, Iterator

# Credentials by the file's name: AWS's and other tools' credential files, SSH and TLS keys,
# and dotenv files (`.env`, `.env.production`, ...), but not their committed templates.
NAMES = re.compile(r"(^|/)(\.aws/credentials|\.aws/config|\.netrc|\.pypirc|\.git-credentials|\.docker/config\.json|"
                   r"id_(rsa|dsa|ecdsa|ed25519)|[^/]+\.(pem|key|p12|pfx)|"
                   r"\.env|\.env\.(?!(example|sample|template|dist)$)[\w.-]+)$", re.IGNORECASE)
# Credentials by content. An AWS secret key is 40 characters; it counts when a key name is
# given a literal value, in any case and in Python, shell, YAML, JSON or INI form
# (`AWS_SECRET_ACCESS_KEY = '...'`, `aws_secret_access_key: ...`, `"SecretAccessKey": "..."`).
CONTENT = re.compile(
    rb"(?P<access_key>(?<![A-Z0-9])(AKIA|ASIA)[0-9A-Z]{16}(?![A-Z0-9]))"
    rb"|(?P<private_key>-----BEGIN (RSA |EC |DSA |OPENSSH |ENCRYPTED )?PRIVATE KEY-----)"
    rb"|(?P<secret_key>(?i:aws_?secret_?access_?key|secret_?access_?key)[\"']?\s*[:=]\s*[\"']?[A-Za-z0-9/+=]{40}(?![A-Za-z0-9/+=]))")
KINDS = {"access_key": "an AWS access key ID", "private_key": "a private key",
         "secret_key": "an AWS secret access key given a value"}
CHUNK = 1024 * 1024
OVERLAP = 256  # longer than any match, so that one split across two chunks is still found


def by_name(path: str) -> bool:
    return bool(NAMES.search(path))


def in_stream(stream: BinaryIO) -> str | None:
    """The kind of the first secret in the stream, read in chunks; None if there is none."""
    tail = b""
    while True:
        chunk = stream.read(CHUNK)
        if not chunk:
            return None
        found = CONTENT.search(tail + chunk)
        if found:
            return KINDS[found.lastgroup]
        tail = (tail + chunk)[-OVERLAP:]


def findings(files: Iterable[tuple[str, BinaryIO | None]]) -> Iterator[str]:
    """One line per file that holds a secret: `files` yields (path, stream or None), None for a
    file whose content is not read (the distribution's own)."""
    for path, stream in files:
        if by_name(path):
            yield f"{path}: a credentials or key file by its name"
        elif stream is not None:
            kind = in_stream(stream)
            if kind:
                yield f"{path}: holds {kind}"


def folder_files(folder: Path, skip: tuple = ("wheelhouse",)) -> Iterator[tuple[str, BinaryIO]]:
    """(path relative to the folder, open stream) for each file, but under the `skip` folders
    (the wheelhouse holds wheels from PyPI, checked by their hashes, not for secrets)."""
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder)
        if path.is_file() and not (set(rel.parts) & set(skip)):
            with path.open("rb") as stream:
                yield rel.as_posix(), stream

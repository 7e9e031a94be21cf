"""Reading a model.tar.gz as SageMaker will unpack it into /opt/ml/model, without trusting it.

`scan` reads the archive once as a stream and writes nothing: every member's path, and every
link's target, is resolved against the links seen before it (a link through a link is followed,
as the file system would follow it on extraction), so whatever would land outside the folder is
named; so are names too long for a file system, devices, a truncated or non-tar input and an
empty one, and the size and count are added up from the headers. `extract` refuses what `scan`
refuses, checks the space first, then unpacks with tarfile's `data` filter and the same limits
counted again while streaming, before each member is written."""

from __future__ import annotations

import shutil
import tarfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from . import rules

NAME_MAX = 255  # bytes in one path component (Linux, and the EBS volumes' ext4/xfs)
PATH_MAX = 4096
LINK_DEPTH = 40  # the kernel's own limit on links followed while resolving one path


class ArchiveUnsafe(Exception):
    """The archive cannot be unpacked safely; `problems` says why, one line each."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("; ".join(problems[:3]) + (f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""))


@dataclass
class Scan:
    names: list[str] = field(default_factory=list)  # regular files, as they will sit in /opt/ml/model
    problems: list[str] = field(default_factory=list)
    members: int = 0
    bytes: int = 0  # uncompressed, from the headers

    @property
    def ok(self) -> bool:
        return not self.problems


class _Escape(Exception):
    pass


def _resolve(parts: list[str], links: dict[tuple, str], depth: int = 0) -> tuple:
    """A path inside the archive's folder after following the links seen so far; _Escape when it
    would leave the folder (through `..`, an absolute link or a chain of links)."""
    if depth > LINK_DEPTH:
        raise _Escape("too many levels of links")
    here: list[str] = []
    for part in parts:
        if part in ("", "."):
            continue
        if part == "..":
            if not here:
                raise _Escape("`..` above the folder")
            here.pop()
            continue
        here.append(part)
        target = links.get(tuple(here))
        if target is not None:
            if target.startswith("/"):
                raise _Escape(f"through the absolute link {'/'.join(here)} -> {target}")
            here = list(_resolve(here[:-1] + target.split("/"), links, depth + 1))
    return tuple(here)


def scan(archive: Path, max_bytes: int = rules.BATCH_VOLUME_BYTES.value) -> Scan:
    result = Scan()
    links: dict[tuple, str] = {}
    try:
        with tarfile.open(archive, mode="r|*") as tar:
            for member in tar:
                result.members += 1
                _member(member, result, links)
                if member.isfile():
                    result.bytes += member.size
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        kind = "truncated" if isinstance(exc, (EOFError, zlib.error)) or "unexpected end" in str(exc).lower() else "unreadable"
        result.problems.append(f"the archive is {kind}: {exc or type(exc).__name__} (after {result.members} members)")
        return result
    if result.members == 0:
        result.problems.append("the archive is empty")
    if result.bytes > max_bytes:
        result.problems.append(f"{result.bytes / 1024**3:.1f} GiB uncompressed, over the {max_bytes / 1024**3:.0f} GiB "
                               f"{'batch transform volume' if max_bytes == rules.BATCH_VOLUME_BYTES.value else 'limit'}")
    return result


def _member(member: tarfile.TarInfo, result: Scan, links: dict) -> None:
    name = member.name
    path = PurePosixPath(name)
    if path.is_absolute():
        result.problems.append(f"{name}: absolute path")
        return
    if ".." in path.parts:
        result.problems.append(f"{name}: `..` in the path")
        return
    longest = max((len(p.encode()) for p in path.parts), default=0)
    if longest > NAME_MAX or len(name.encode()) > PATH_MAX:
        result.problems.append(f"{name[:60]}...: a name too long for the file system "
                               f"({longest} bytes in one part; at most {NAME_MAX})")
        return
    if member.isdev() or member.isfifo():
        result.problems.append(f"{name}: device or fifo")
        return
    parts = [p for p in path.parts if p not in ("", ".")]
    try:
        parent = _resolve(parts[:-1], links)
        if member.issym() or member.islnk():
            if member.linkname.startswith("/"):
                raise _Escape(f"absolute target {member.linkname}")
            # A symbolic link's target is relative to its folder; a hard link's to the archive's root.
            base = list(parent) if member.issym() else []
            _resolve(base + member.linkname.split("/"), links)
    except _Escape as exc:
        what = f"link to {member.linkname}" if (member.issym() or member.islnk()) else "path"
        result.problems.append(f"{name}: {what} leaves the archive ({exc})")
        return
    if not parts:
        return
    where = parent + (parts[-1],)
    if member.issym():
        links[where] = member.linkname
    elif member.isfile() or member.islnk():
        result.names.append("/".join(where))


def extract(archive: Path, target: Path, max_bytes: int = rules.BATCH_VOLUME_BYTES.value,
            scanned: Scan | None = None) -> Path:
    """Unpack as SageMaker does into /opt/ml/model; ArchiveUnsafe, before anything is written,
    for whatever `scan` finds or a folder without the room for it. `scanned` is this archive's
    scan when the caller already made it (the archive is then read once less)."""
    found = scanned or scan(archive, max_bytes)
    if not found.ok:
        raise ArchiveUnsafe(found.problems)
    target.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(target).free
    if found.bytes > free - 256 * 1024**2:
        raise ArchiveUnsafe([f"{found.bytes / 1e9:.1f} GB uncompressed, and {target} has {free / 1e9:.1f} GB free"])
    written, count = 0, 0
    with tarfile.open(archive, mode="r|*") as tar:
        for member in tar:
            count += 1
            written += member.size if member.isfile() else 0
            if written > found.bytes or count > found.members:  # the stream is not the one scanned
                raise ArchiveUnsafe(["the archive changed while it was read"])
            try:
                tar.extract(member, target, filter="data")
            except (tarfile.FilterError, OSError) as exc:
                raise ArchiveUnsafe([f"{member.name}: {exc}"]) from exc
    return target

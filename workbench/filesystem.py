"""Files that must not be lost or half-written, and folders that many runs share.

- ``write_atomic`` (and ``write_if_changed``): a temp file in the same folder, then rename; a reader
  sees the old file or the new one, never a part, and a failed write leaves nothing behind.
- ``check_output_file``, ``check_writable``: try, before slow work, whether an output can be written
  where it goes (not a folder, a device or a pipe; not read-only or full).
- ``not_regular``: what a path is when it is not a file (a pipe blocks a reader, /dev/zero never ends).
- ``why``, ``storage_trouble``: an OSError's cause in words (a full disk is not "ld failed").
- ``locked``: an exclusive lock on a shared folder (the build folder of one model), so any number of
  runs, sweeps and benchmarks can build into one checkout; a lock dies with its process.
- ``scratch_for``: a folder of this process alone for what one run writes (emulator logs, plugin
  counts, link FIFOs); removed when the run ends, and a dead process's folder by the next run.
- ``plain_path``: a path make and gcc take literally, even from a checkout at "/home/me/my wb,2"."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import os
import re
import shutil
import stat
import tempfile
import weakref
from pathlib import Path

from workbench.errors import WorkbenchError

CAUSES = {
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EROFS: "read-only file system",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.ENOENT: "no such file or folder",
    errno.ENOTDIR: "a part of the path is a file, not a folder",
    errno.EISDIR: "it is a folder",
    errno.ENAMETOOLONG: "file name too long",
    errno.EIO: "input/output error (a failing disk?)",
}
# Errors of the machine's storage rather than of a path the user typed: the CLI names them in one line.
STORAGE_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EIO)


def why(exc: OSError) -> str:
    """The cause of ``exc`` in a few words (``no space left on the device (ENOSPC)``)."""
    code = exc.errno
    name = errno.errorcode.get(code, "") if code is not None else ""
    text = CAUSES.get(code) or (exc.strerror or str(exc)).lower()
    return f"{text} ({name})" if name else text


def io_error(what: str, path, exc: OSError) -> WorkbenchError:
    """One line for a failed write or read: ``cannot write profile X: no space left on the device (ENOSPC)``."""
    return WorkbenchError(f"cannot {what} {path}: {why(exc)}")


# What a compiler, linker or make prints when the disk, not the code, is at fault.
STORAGE_MESSAGES = {"No space left on device": errno.ENOSPC, "Disk quota exceeded": errno.EDQUOT,
                    "Read-only file system": errno.EROFS, "Permission denied": errno.EACCES}


def storage_trouble(output: str) -> str | None:
    """The storage cause in a failed tool's output ("ld returned 1" is not the reason when the disk is
    full), or None."""
    code = next((code for text, code in STORAGE_MESSAGES.items() if text in output), None)
    return None if code is None else why(OSError(code, ""))


KINDS = ((stat.S_ISDIR, "a folder"), (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
         (stat.S_ISFIFO, "a named pipe"), (stat.S_ISSOCK, "a socket"))


def not_regular(path: str | os.PathLike) -> str | None:
    """What ``path`` is if it exists and is not a regular file ("a named pipe": reading it would wait
    for a writer forever; "a character device": /dev/zero never ends), else None."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return None
    return None if stat.S_ISREG(mode) else next((kind for test, kind in KINDS if test(mode)), "not a regular file")


def nearest_folder(path: Path) -> Path:
    """The folder that holds ``path``, or its nearest ancestor that exists (where a mkdir would start)."""
    folder = Path(path).absolute().parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return folder


def check_writable(path: str | os.PathLike, what: str = "write", *, folder: bool = False) -> Path:
    """Refuse, at once, an output path where no file can be created (read-only or full file system, no
    permission): create and remove a small temp file in its folder (or the nearest existing ancestor,
    which the write would create the rest in). ``folder``: ``path`` is an output folder, not a file."""
    path = Path(path)
    folder = nearest_folder(path / "x" if folder else path)
    if not folder.is_dir():
        raise WorkbenchError(f"cannot {what} {path}: {folder} is a file, not a folder")
    try:
        fd, tmp = tempfile.mkstemp(prefix=".wb-probe-", dir=folder)
        try:
            os.write(fd, b"\0" * 512)     # a full disk refuses data, not always an empty file
            os.fsync(fd)
        finally:
            os.close(fd)
            os.unlink(tmp)
    except OSError as exc:
        raise io_error(what, path, exc) from None
    return path


def check_output_file(path: str | os.PathLike, noun: str, option: str = "--out") -> Path:
    """Refuse, before slow work, an output file path that is a folder, a device or a pipe (a rename
    over /dev/null would replace the device), lies under a file, or where nothing can be written."""
    path = Path(path)
    if path.is_dir():
        raise WorkbenchError(f"{option} {path} is a folder; give the {noun}'s file name")
    kind = not_regular(path)
    if kind:
        raise WorkbenchError(f"{option} {path} is {kind}; give the {noun}'s file name")
    if any(p.exists() and not p.is_dir() for p in path.absolute().parents):
        raise WorkbenchError(f"{option} {path}: a parent of it is a file, not a folder")
    return check_writable(path, f"write the {noun}")


def write_atomic(path: str | os.PathLike, data: bytes | str, *, what: str = "write", mode: int = 0o644) -> Path:
    """Write ``data`` to ``path`` through a temp file in its folder and a rename. On failure the temp
    file is removed and the OSError becomes one line naming its cause. Never renames over anything but
    a regular file."""
    path = Path(path)
    kind = not_regular(path)
    if kind:
        raise WorkbenchError(f"cannot {what} {path}: it is {kind}, not a file")
    raw = data.encode() if isinstance(data, str) else bytes(data)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", dir=path.parent)
        with os.fdopen(fd, "wb") as f:
            f.write(raw)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)      # mkstemp makes 0600; outputs are shared records
        os.replace(tmp, path)
        tmp = None
    except OSError as exc:
        raise io_error(what, path, exc) from None
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
    return path


def write_if_changed(path: str | os.PathLike, text: str, *, what: str = "write") -> Path:
    """``write_atomic`` unless the file already holds ``text``: generated sources keep their time
    stamp, so make rebuilds nothing, and a build reading them never sees one half-written."""
    path = Path(path)
    try:
        if path.read_bytes() == text.encode():
            return path
    except OSError:
        pass
    return write_atomic(path, text, what=what)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temps(folder: Path, pattern: str) -> list[Path]:
    """Remove temp files ``write_atomic`` left in ``folder`` (``.<name>.<pid>.<random>``) whose writer
    is gone (killed mid-write); a live writer's temp file is left alone."""
    removed = []
    for tmp in Path(folder).glob(pattern):
        parts = tmp.name.rsplit(".", 2)
        pid = parts[-2] if len(parts) == 3 else ""
        if pid.isdigit() and pid_alive(int(pid)):
            continue
        tmp.unlink(missing_ok=True)
        removed.append(tmp)
    return removed


@contextlib.contextmanager
def locked(folder: str | os.PathLike, what: str = "build folder"):
    """Hold an exclusive lock on ``folder`` (``folder/.lock``, flock) for the block: one process at a
    time builds there; the others wait, then find the build done. The kernel drops the lock when its
    process dies, however it dies."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(folder / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise io_error(f"lock the {what}", folder, exc) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield folder
    finally:
        os.close(fd)      # releases the lock


SCRATCH = "scratch"


def scratch_for(owner, prefix: str = "run") -> Path:
    """A new folder of this process alone under build/scratch for what ``owner`` (a target, a run)
    writes; removed when ``owner`` is garbage-collected or the interpreter exits. Folders left by
    processes that died without removing theirs (SIGKILL) are removed first."""
    from workbench.paths import build_dir

    root = build_dir() / SCRATCH
    try:
        root.mkdir(parents=True, exist_ok=True)
        for old in root.iterdir():
            pid = old.name.split("-")[1] if old.name.count("-") >= 2 else ""
            if pid.isdigit() and not pid_alive(int(pid)):
                shutil.rmtree(old, ignore_errors=True)
        folder = Path(tempfile.mkdtemp(prefix=f"{prefix.replace('-', '')}-{os.getpid()}-", dir=root))
    except OSError as exc:
        raise io_error("create a scratch folder in", root, exc) from None
    weakref.finalize(owner, shutil.rmtree, folder, True)
    return folder


# Characters make and the compiler driver take literally in a path: make splits words at spaces and
# function arguments at commas, gcc splits -Wl, options at commas, and ':', '#', '$', '=', quotes
# and brackets mean something to one of them.
PLAIN = re.compile(r"[A-Za-z0-9._/+@~-]*")


def plain_path(path: str | os.PathLike) -> str:
    """``path`` as make, linker scripts and compiler options take it: unchanged if every character is
    plain, else a symlink to it in the system's temp folder named by a hash of the path (so the same
    path always gets the same alias, and make's flag stamps stay stable). Paths with spaces, commas or
    non-ASCII letters then build like any other."""
    path = Path(path).absolute()
    text = str(path)
    if PLAIN.fullmatch(text):
        return text
    if PLAIN.fullmatch(path.name) and path.parent != path:
        # Alias the odd folder, not what is below it: names keep their suffix (make derives x.o from x.c)
        # and a whole checkout shares one alias.
        return f"{plain_path(path.parent)}/{path.name}"
    base = Path(tempfile.gettempdir()) / f"wb-paths-{os.getuid()}"
    if not PLAIN.fullmatch(str(base)):
        raise WorkbenchError(f"the build needs a temp folder without spaces or commas for its path aliases; "
                             f"{base.parent} has some: set TMPDIR to another folder")
    link = base / hashlib.sha256(os.fsencode(text)).hexdigest()[:16]
    try:
        base.mkdir(mode=0o700, exist_ok=True)
        if not (link.is_symlink() and os.readlink(link) == text):
            tmp = base / f".{link.name}.{os.getpid()}"
            tmp.unlink(missing_ok=True)
            os.symlink(text, tmp)
            os.replace(tmp, link)       # atomic: a concurrent build sees the old link or the new one
    except OSError as exc:
        raise io_error("create a path alias in", base, exc) from None
    return str(link)

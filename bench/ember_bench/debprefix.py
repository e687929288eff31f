"""Debian ``sid`` CPython builds in private prefixes (``make peers``).

Debian's unstable suite ships PGO-built CPython 3.14 (with CPython's own JIT,
``--enable-experimental-jit=yes-off``: ``PYTHON_JIT=1`` switches it on) and
3.13. Their binaries need a newer glibc than the host's, so they are never
installed into the system. Instead, for each interpreter:

1. a private apt state (``<peers>/apt/``: its own sources list naming only
   ``sid``, its own package lists and cache, an empty dpkg status) downloads
   the ``.deb`` files with ``apt-get download``; the host's apt
   configuration and package database are not touched, so the host can
   never be upgraded from ``sid``;
2. ``dpkg -x`` unpacks them into ``<peers>/cpython-<minor>/`` (the
   interpreter, its stdlib and headers, and the prefix's own glibc and the
   few libraries the interpreter loads);
3. a launcher ``usr/bin/ember-python<minor>`` starts the interpreter through
   the prefix's own dynamic loader (``ld-linux-x86-64.so.2 --library-path
   ... --argv0``). Because the launcher sits in ``usr/bin``, CPython's
   ``getpath`` finds ``usr/lib/python<minor>`` next to it (no
   ``PYTHONHOME``), and ``sys.executable`` is the launcher, so child
   processes started with ``sys.executable`` work too;
4. pip (bootstrapped from its wheel) installs packages into the prefix's
   site directory ``usr/lib/python3/dist-packages`` (on ``sys.path`` through
   Debian's ``site``).

Everything is idempotent: a prefix whose launcher answers with the expected
version and whose packages import is left alone. No function here needs the
network except :func:`apt_update`, :func:`apt_download` and :func:`pip_install`.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

#: Debian packages of each interpreter (the same names with 3.13 / 3.14).
PYTHON_PACKAGES = ("python{v}", "python{v}-minimal", "libpython{v}-minimal",
                   "libpython{v}-stdlib", "libpython{v}", "libpython{v}-dev")
#: Libraries from ``sid`` that the interpreters load (glibc first).
LIBRARY_PACKAGES = ("libc6", "libexpat1", "libffi8", "zlib1g", "libssl3t64", "libzstd1",
                    "liblzma5", "libbz2-1.0", "libmpdec4", "libsqlite3-0", "libreadline8t64",
                    "libncursesw6", "libtinfo6", "libuuid1")
#: The minor versions set up by ``make peers``.
MINORS = ("3.14", "3.13")
SUITE = "sid"
MIRROR = "http://deb.debian.org/debian"
KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"
MULTIARCH = "x86_64-linux-gnu"
#: Where Debian's ``site`` looks for packages, relative to the prefix.
SITE_DIR = "usr/lib/python3/dist-packages"

_PROBE = ("import json, sys, sysconfig; print(json.dumps({'version': sys.version.split()[0], "
          "'hexversion': sys.hexversion, 'executable': sys.executable, 'prefix': sys.prefix, "
          "'include': sysconfig.get_paths()['include'], "
          "'jit': bool(getattr(getattr(sys, '_jit', None), 'is_available', lambda: False)())}))")


class PrefixError(Exception):
    """A step of the set-up failed; the message says which and why."""


@dataclass
class PrefixStatus:
    """What :func:`detect` found for one minor version.

    ``ok``: the launcher runs and reports ``minor``; ``python``: the launcher's
    path; ``version``: e.g. ``"3.14.10"``; ``include``: its C header directory
    (with ``internal/`` from ``libpython<minor>-dev``); ``message``: a human
    reason when not ok.
    """

    minor: str
    ok: bool
    python: Path
    version: str = ""
    include: str = ""
    jit_available: bool = False
    message: str = ""


def prefix_dir(peers_root: Path, minor: str) -> Path:
    """The private prefix of one interpreter: ``<peers_root>/cpython-<minor>``."""
    return Path(peers_root) / f"cpython-{minor}"


def launcher_path(prefix: Path, minor: str) -> Path:
    """The launcher script inside ``prefix`` (``usr/bin/ember-python<minor>``)."""
    return Path(prefix) / "usr" / "bin" / f"ember-python{minor}"


def site_dir(prefix: Path) -> Path:
    """The directory pip installs into (a site directory of Debian's ``site``)."""
    return Path(prefix) / SITE_DIR


def packages_for(minor: str) -> list:
    """Debian package names for interpreter ``minor`` (e.g. ``"3.14"``), libraries last."""
    return [p.format(v=minor) for p in PYTHON_PACKAGES] + list(LIBRARY_PACKAGES)


def launcher_text(minor: str) -> str:
    """The launcher shell script for ``minor``; it finds the prefix from its own path."""
    return ("#!/bin/sh\n"
            f"# Debian's python{minor} from this private prefix, on the prefix's own glibc\n"
            "# (written by bench/ember_bench/debprefix.py).\n"
            'd=$(dirname "$(readlink -f "$0")")\n'
            f'lib="$d/../lib/{MULTIARCH}"\n'
            f'exec "$lib/ld-linux-x86-64.so.2" --library-path "$lib" --argv0 "$0" '
            f'"$d/python{minor}" "$@"\n')


def apt_options(state: Path) -> list:
    """``apt-get`` options that use only the private apt state under ``state``.

    The host's sources, preferences, package lists, cache and dpkg status are
    replaced, so nothing done with these options can change the host.
    """
    state = Path(state)
    return ["-o", f"Dir::Etc={state / 'etc'}",
            "-o", f"Dir::Etc::sourcelist={state / 'etc' / 'sources.list'}",
            "-o", f"Dir::Etc::sourceparts={state / 'etc' / 'sources.list.d'}",
            "-o", f"Dir::Etc::preferencesparts={state / 'etc' / 'preferences.d'}",
            "-o", f"Dir::State::Lists={state / 'lists'}",
            "-o", f"Dir::State::status={state / 'status'}",
            "-o", f"Dir::Cache={state / 'cache'}",
            "-o", "APT::Sandbox::User=root"]


def write_apt_state(state: Path) -> None:
    """Create the private apt state directory with a ``sid``-only source."""
    state = Path(state)
    for d in ("etc/sources.list.d", "etc/preferences.d", "lists/partial",
              "cache/archives/partial"):
        (state / d).mkdir(parents=True, exist_ok=True)
    (state / "etc" / "sources.list").write_text("")
    (state / "etc" / "sources.list.d" / f"{SUITE}.sources").write_text(
        f"Types: deb\nURIs: {MIRROR}\nSuites: {SUITE}\nComponents: main\n"
        f"Signed-By: {KEYRING}\n")
    (state / "status").touch()


def _run(cmd: list, what: str, cwd: Path | None = None, env: dict | None = None) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, env=env)
    except OSError as exc:
        raise PrefixError(f"{what}: cannot run {cmd[0]}: {exc}") from exc
    if out.returncode != 0:
        tail = " | ".join((out.stderr or out.stdout).strip().splitlines()[-4:])
        raise PrefixError(f"{what} failed (exit {out.returncode}): {tail}")
    return out.stdout


def apt_update(state: Path) -> None:
    """Fetch ``sid``'s package lists into the private state. Raises PrefixError."""
    write_apt_state(state)
    _run(["apt-get", *apt_options(state), "-q", "update"],
         f"apt-get update of Debian {SUITE} (package registry unreachable?)")


def apt_download(state: Path, packages: list, dest: Path) -> list:
    """Download ``packages`` from ``sid`` into ``dest``; returns the ``.deb`` paths."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    _run(["apt-get", *apt_options(state), "-q", "download", *packages],
         f"apt-get download of {' '.join(packages)}", cwd=dest)
    debs = sorted(dest.glob("*.deb"))
    names = {d.name.split("_", 1)[0] for d in debs}
    missing = [p for p in packages if p not in names]
    if missing:
        raise PrefixError(f"apt-get download did not bring {', '.join(missing)}")
    return debs


def unpack(debs: list, prefix: Path, minor: str) -> Path:
    """``dpkg -x`` every deb into ``prefix`` and write the launcher; returns its path."""
    prefix = Path(prefix)
    prefix.mkdir(parents=True, exist_ok=True)
    for deb in debs:
        _run(["dpkg", "-x", str(deb), str(prefix)], f"dpkg -x {Path(deb).name}")
    launcher = launcher_path(prefix, minor)
    launcher.write_text(launcher_text(minor))
    launcher.chmod(0o755)
    site_dir(prefix).mkdir(parents=True, exist_ok=True)
    return launcher


def probe(python: Path, env: dict | None = None) -> dict:
    """Run ``python`` and return its version facts (see ``_PROBE``). Raises PrefixError."""
    out = _run([str(python), "-c", _PROBE], f"{python} does not start", env=env)
    try:
        return json.loads(out.strip().splitlines()[-1])
    except (ValueError, IndexError) as exc:
        raise PrefixError(f"{python}: unexpected probe output {out[-200:]!r}") from exc


def detect(peers_root: Path, minor: str) -> PrefixStatus:
    """Check the prefix of ``minor`` without changing anything (no network).

    Not ok when the launcher or the interpreter binary is missing, the
    launcher fails, or it reports another minor version.
    """
    prefix = prefix_dir(peers_root, minor)
    launcher = launcher_path(prefix, minor)
    status = PrefixStatus(minor, False, launcher)
    if not launcher.exists() or not (launcher.parent / f"python{minor}").exists():
        status.message = f"not set up (no {launcher}; run `make peers`)"
        return status
    try:
        info = probe(launcher)
    except PrefixError as exc:
        status.message = f"broken: {exc}"
        return status
    status.version = info["version"]
    status.include = info["include"]
    status.jit_available = info["jit"]
    if not info["version"].startswith(minor + "."):
        status.message = f"{launcher} runs CPython {info['version']}, expected {minor}.x"
        return status
    status.ok = True
    status.message = f"Debian CPython {info['version']} in {prefix}"
    return status


def has_modules(python: Path, modules: list, env: dict | None = None) -> bool:
    """True when ``python`` imports every module in ``modules``."""
    code = "import " + ", ".join(modules) if modules else "pass"
    try:
        return subprocess.run([str(python), "-c", code], capture_output=True,
                              env=env).returncode == 0
    except OSError:
        return False


def pip_install(python: Path, prefix: Path, requirements: list, pip_wheel: Path | None = None,
                extra: list | None = None, env: dict | None = None) -> None:
    """``pip install --target <site dir>`` of ``requirements`` with ``python``.

    pip runs inside the prefix's interpreter, so wheels are chosen for it.
    ``pip_wheel`` (a ``pip-*.whl`` file) bootstraps pip when the prefix has
    none: pip runs from the wheel file, as pip's own docs describe.
    """
    if has_modules(python, ["pip"]):
        cmd = [str(python), "-m", "pip"]
    elif pip_wheel is not None:
        cmd = [str(python), str(Path(pip_wheel) / "pip")]
    else:
        raise PrefixError(f"{python} has no pip and no pip wheel was given")
    _run(cmd + ["install", "-q", "--disable-pip-version-check", "--no-warn-script-location",
                "--upgrade", "--target", str(site_dir(prefix)), *(extra or []), *requirements],
         f"pip install {' '.join(requirements)} into {prefix}", env=env)


def setup(peers_root: Path, minor: str, log=print) -> PrefixStatus:
    """Make the prefix of ``minor`` usable (idempotent); returns its final status.

    Downloads only what is missing. Raises PrefixError with a clear message
    when something cannot be fetched or unpacked.
    """
    status = detect(peers_root, minor)
    if status.ok:
        log(f"peers: {status.message} (already set up)")
        return status
    state = Path(peers_root) / "apt"
    log(f"peers: fetching Debian {SUITE} python{minor} into {prefix_dir(peers_root, minor)}")
    if not (state / "lists").exists() or not any((state / "lists").glob("*Packages*")):
        apt_update(state)
    debs_dir = Path(peers_root) / "debs" / minor
    try:
        debs = apt_download(state, packages_for(minor), debs_dir)
    except PrefixError:
        apt_update(state)   # the lists may be stale: a package moved to a new version
        for old in debs_dir.glob("*.deb"):
            old.unlink()
        debs = apt_download(state, packages_for(minor), debs_dir)
    unpack(debs, prefix_dir(peers_root, minor), minor)
    status = detect(peers_root, minor)
    if not status.ok:
        raise PrefixError(f"python{minor} unpacked but unusable: {status.message}")
    log(f"peers: {status.message}")
    return status

"""Which CPython patch versions a build of Ember may activate in.

The shim is compiled against one CPython's internal headers (frame layout, code object,
inline caches, ...), and the helper bitcode inlined into compiled code is compiled against the
same headers. CPython keeps its internal structures stable within a minor version in practice,
not by promise, so a build activates only in the exact version it was built for (the shim's
``BUILT_FOR``, CPython's ``PY_VERSION``), or in a version listed in :data:`TESTED_ON` for it
(the differential tests passed there with that build). Anywhere else Ember stays off and says
so in one line. ``EMBER_ALLOW_UNTESTED_CPYTHON=1`` overrides the refusal (for testing a new
patch version); the line is still printed.

This module imports nothing, so it can be tested without the shim.
"""

#: Other patch versions a build for the key version was tested on (``make test-pgo``-style runs
#: of the differential tests). Empty: every build activates only in its own version.
TESTED_ON = {}

#: The variable that lets an untested version activate anyway.
ALLOW_VAR = "EMBER_ALLOW_UNTESTED_CPYTHON"
_TRUE = ("1", "true", "yes", "on")


def running_version(sys_version):
    """The ``PY_VERSION`` string of a running interpreter from its ``sys.version``
    (e.g. ``"3.13.0"``, ``"3.13.0rc2"``)."""
    return sys_version.split()[0]


def refusal(built_for, running, environ):
    """Why Ember must not activate, or None when it may.

    ``built_for`` and ``running`` are ``PY_VERSION`` strings (the shim's build, this process);
    ``environ`` is a mapping of environment variables (for :data:`ALLOW_VAR`). Returns a
    one-line message; when the override is set it returns None and the caller prints
    :func:`override_note` instead.
    """
    if running == built_for or running in TESTED_ON.get(built_for, ()):
        return None
    if environ.get(ALLOW_VAR, "").strip().lower() in _TRUE:
        return None
    return (f"ember: not activated: this build is for CPython {built_for}, this is CPython "
            f"{running}, a patch version it was not tested on (rebuild Ember for this "
            f"interpreter, or set {ALLOW_VAR}=1 at your own risk); running uncompiled")


def override_note(built_for, running):
    """The line printed when :data:`ALLOW_VAR` lets an untested version activate, else None."""
    if running == built_for or running in TESTED_ON.get(built_for, ()):
        return None
    return (f"ember: warning: this build is for CPython {built_for}, running on untested "
            f"CPython {running} because {ALLOW_VAR} is set")

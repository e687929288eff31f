"""The process that compiles, for later runs, the functions a run of ``python -m ember`` sampled
but left interpreted (docs/compilation.md, "Compiling for the next run"). ember._cli starts it
at exit as ``python -I -S -c ... PACKAGE_PARENT WIRES``; it inherits the program's environment,
so EMBER_CACHE_DIR and EMBER_LOG are the program's."""
import os


def main(wires):
    """Compiles the wires in the file `wires` (ember._shim.precompile_write's format) into the
    code cache at idle priority, one such process at a time per cache (an exclusive lock on
    ``<cache>/precompile/lock``), then deletes the file. Errors end it quietly: its output goes
    nowhere, and a later run simply compiles what is missing."""
    import ember
    try:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    except (AttributeError, OSError):
        try:
            os.nice(19)
        except OSError:
            pass
    try:
        if ember.inactive is None and ember._cache[0] is not None:
            import fcntl
            with open(os.path.join(os.path.dirname(wires), "lock"), "a") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                ember._shim.precompile_run(wires)
    finally:
        try:
            os.unlink(wires)
        except OSError:
            pass

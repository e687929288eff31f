"""Ember's gdb extension: ``py-bt`` through compiled code (a gdb script, not
a module Python imports).

CPython's gdb extension (``python3.13-gdb.py``, Tools/gdb/libpython.py) finds Python frames by
looking for ``_PyEval_EvalFrameDefault`` on the C stack and reading its ``frame`` variable; it
then walks that frame's ``previous`` chain up to the C entry frame. A function Ember compiled
runs in its own machine frame (``ember_fn_N``) with no such variable, so the stock ``py-bt``
leaves it out (and everything it called that the interpreter did not run).

Ember keeps CPython's chain of interpreter frames exact (``tstate->current_frame`` and each
frame's ``previous``: tracebacks and ``sys._getframe`` rely on it), so this script walks that
chain instead, from the thread state of the selected thread, and prints each frame with
CPython's own printer. Frames that compiled code runs are marked ``[compiled by Ember]``: their
code object's compiled entry (the shim's ``CodeInfo``) is the start of a machine frame on this
thread's stack (gdb names registered JIT code ``ember_fn_N`` or ``ember_c_<key>``).

Load it after CPython's script::

    gdb -iex "add-auto-load-safe-path $(python -c 'import sys; print(sys.base_prefix)')" \\
        -ex "source $(python -m ember --gdb-script)" --args python app.py

Needs CPython's debug information (as ``py-bt`` itself does) and a live process or a core
file whose thread state is readable.
"""
import sys

import gdb  # only inside gdb


def _libpython():
    """CPython's gdb extension module namespace (loaded into gdb's __main__), or None."""
    main = sys.modules.get("__main__")
    return main if main is not None and hasattr(main, "PyFramePtr") else None


def _thread_state():
    """The selected thread's PyThreadState pointer: the thread-local ``_Py_tss_tstate``, else
    the ``tstate`` argument of the newest ``_PyEval_EvalFrameDefault`` on the C stack."""
    try:
        ts = gdb.parse_and_eval("_Py_tss_tstate")
        if int(ts) != 0:
            return ts
    except gdb.error:
        pass
    frame = gdb.newest_frame()
    while frame is not None:
        if frame.name() == "_PyEval_EvalFrameDefault":
            try:
                return frame.read_var("tstate")
            except (ValueError, gdb.error):
                pass
        frame = frame.older()
    return None


def _jit_frames():
    """Names of the compiled functions (``ember_fn_*`` / ``ember_c_*``, the names Ember's JIT
    registration gives gdb) that have a machine frame on the selected thread's stack."""
    names = set()
    frame = gdb.newest_frame()
    while frame is not None:
        name = frame.name() or ""
        if name.startswith(("ember_fn_", "ember_c_")):
            names.add(name)
        frame = frame.older()
    return names


def _symbol_at(address):
    """gdb's name for the code at `address` (``info symbol``), or None."""
    try:
        text = gdb.execute(f"info symbol {address:#x}", to_string=True)
    except gdb.error:
        return None
    return None if text.startswith("No symbol") else text.split()[0]


def _compiled_entry(code):
    """The address of the compiled entry Ember installed for `code` (a ``PyCodeObject *``
    gdb value), or None: the shim keeps a ``CodeInfo`` in the code object's ``co_extra`` slot
    at index ``ember_extra_index`` (cpython-glue/ember_runtime.h, ``ember_code_info``; the
    shim's debug information gives the layouts)."""
    try:
        index = int(gdb.parse_and_eval("ember_extra_index"))
        extra = code["co_extra"]
        if index < 0 or int(extra) == 0:
            return None
        ce = extra.cast(gdb.lookup_type("CodeExtra").pointer())
        if index >= int(ce["ce_size"]):
            return None
        info = ce["ce_extras"][index]
        if int(info) == 0:
            return None
        return int(info.cast(gdb.lookup_type("CodeInfo").pointer())["entry"])
    except (gdb.error, RuntimeError, ValueError):
        return None


def walk():
    """Prints the Python stack of the selected thread, newest frame first."""
    lp = _libpython()
    if lp is None:
        print("py-bt: CPython's gdb extension (python3.13-gdb.py) is not loaded")
        return
    ts = _thread_state()
    if ts is None:
        print("Unable to locate python frame")
        return
    jit = _jit_frames()
    frame_ptr = gdb.lookup_type("_PyInterpreterFrame").pointer()
    frame = ts["current_frame"].cast(frame_ptr)
    print("Traceback (most recent call first):")
    seen = set()
    while int(frame) != 0 and int(frame) not in seen:
        seen.add(int(frame))
        pyframe = lp.PyFramePtr(frame)
        if not pyframe.is_shim():
            code = frame["f_executable"].cast(gdb.lookup_type("PyCodeObject").pointer())
            compiled = _compiled_entry(code) if jit else None
            pyframe.print_traceback()
            line = pyframe.current_line()
            if line is not None:
                sys.stdout.write("    %s\n" % line.strip())
            if compiled and _symbol_at(compiled) in jit:
                sys.stdout.write("    [compiled by Ember]\n")
        frame = frame["previous"]


class EmberPyBacktrace(gdb.Command):
    """Display the Python stack of the selected thread, frames run by Ember's compiled code
    included (replaces CPython's py-bt)."""

    def __init__(self):
        gdb.Command.__init__(self, "py-bt", gdb.COMMAND_STACK, gdb.COMPLETE_NONE)

    def invoke(self, args, from_tty):
        walk()


EmberPyBacktrace()

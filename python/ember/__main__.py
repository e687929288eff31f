"""`python -m ember script.py [args]`: run a script with autojit on: by default the cost policy
(compile where it pays, `ember.auto()`); EMBER_AUTO=N compiles after N calls instead, and
EMBER_JIT_LIST and EMBER_LOG apply as usual."""
import os
import runpy
import sys

import ember


def main():
    if len(sys.argv) < 2 or sys.argv[1] in ("-h", "--help"):
        print("usage: python -m ember script.py [args...]\n"
              "Runs the script with Ember's autojit on (default: compile where it pays;\n"
              "EMBER_AUTO=N: after N calls).")
        return 0 if len(sys.argv) >= 2 else 2
    if not os.environ.get("EMBER_DISABLE"):
        if os.environ.get("EMBER_JIT_LIST") or os.environ.get("EMBER_AUTO") is not None:
            ember.start_from_env()
        else:
            ember.auto()
    script = sys.argv[1]
    sys.argv = sys.argv[1:]
    sys.path.insert(0, os.path.dirname(os.path.abspath(script)))
    runpy.run_path(script, run_name="__main__")
    return 0


if __name__ == "__main__":
    sys.exit(main())

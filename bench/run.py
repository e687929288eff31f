#!/usr/bin/env python3
"""Entry point of Ember's benchmark harness: ``python bench/run.py --help``.

Run it with the project venv's interpreter (``.venv/bin/python``); ``make
bench`` does. It only puts bench/ on sys.path and calls ember_bench.cli.main.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from ember_bench.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())

"""``python -m ember_bench`` (with bench/ on sys.path): same as bench/run.py."""

import sys

from .cli import main

sys.exit(main())

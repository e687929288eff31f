"""`python -m ember ...`: see ember._cli (the command line's code lives there, so that none of
it is named `__main__:...`)."""
import sys

from ember._cli import main

sys.exit(main())

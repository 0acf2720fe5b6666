"""`python -m quotewire ...` runs the command line."""

import sys

from quotewire.cli import main

sys.exit(main())

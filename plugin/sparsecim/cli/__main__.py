"""`python -m sparsecim.cli ...`: the same as the `sparsecim` command."""

import sys

from sparsecim.cli import main

sys.exit(main())

"""`python -m tb_lossdiag` runs the tb-lossdiag command."""

import sys

from tb_lossdiag.cli import main

sys.exit(main())

"""`python -m deployments.cli`: the `automation` command without its console script."""

import sys

from deployments.cli import main

sys.exit(main())

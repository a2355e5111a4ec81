"""`python -m deployments.exporter`: the Prometheus exporter service (see `server`)."""

import sys

from deployments.exporter.server import main

sys.exit(main())

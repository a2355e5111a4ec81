"""`python -m drill` (what `make drill` runs): see the package docstring."""

import sys

from drill.run import main

sys.exit(main())

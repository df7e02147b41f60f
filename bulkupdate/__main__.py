"""``python -m bulkupdate``: the command line, as the ``bulkupdate`` script."""

import sys

from .cli.main import main

sys.exit(main())

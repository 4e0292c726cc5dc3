"""``python -m world --seed 7 --sites 300``: serve a generated world (see :mod:`world.server`)."""

import sys

from world.server import main

sys.exit(main())

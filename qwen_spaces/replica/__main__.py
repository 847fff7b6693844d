"""``python -m qwen_spaces.replica``: the replica server process (see ``server.main``)."""

import sys

from .server import main

sys.exit(main())

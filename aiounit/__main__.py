"""Entry point of ``python -m aiounit``: run the command line and exit with its status."""

import sys

if sys.argv[0].endswith("__main__.py"):
    # Show "python -m aiounit" in usage and help, not the path of this file.
    sys.argv[0] = "python -m aiounit"

from aiounit.main import main

main(module=None)

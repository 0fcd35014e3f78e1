"""``python -m fastprop``: the ``fastprop`` command (see ``fastprop.cli``).

Without a command it runs ``fastprop demo``: a 64-32-10 network trained on the
bundled digits in each mode, a summary table and the loss curves as a PNG.
"""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())

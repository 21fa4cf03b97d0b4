"""``python -m d2l_recsys ...``: see :mod:`d2l_recsys.cli`."""
import sys

from .cli import main

sys.exit(main())

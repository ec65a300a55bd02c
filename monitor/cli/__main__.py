"""``python -m monitor.cli``: the same as the ``school-monitor`` command."""
import sys

from monitor.cli import main

sys.exit(main())

"""`python -m dashboard …` = `trainboard …`."""
import sys

from dashboard.cli import main

sys.exit(main())

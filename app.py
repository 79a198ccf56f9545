"""trainboard: `python app.py [command …]` is the `trainboard` CLI; with no command it serves."""
import sys

from dashboard.cli import main

if __name__ == "__main__":
    sys.exit(main())

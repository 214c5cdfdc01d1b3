"""`python -m streamser` is the `streamser` command."""

import sys

from streamser.cli.main import main

sys.exit(main())

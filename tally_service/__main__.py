import sys

from tally_service.cli import main

sys.exit(main())

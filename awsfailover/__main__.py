import sys

from awsfailover.cli import main

sys.exit(main())

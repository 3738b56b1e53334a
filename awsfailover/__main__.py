import sys

from awsfailover.cli.fast import main

sys.exit(main())

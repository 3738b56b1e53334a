import sys

from awsfailover.cli.main import main

sys.exit(main())

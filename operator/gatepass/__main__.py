import sys

from gatepass.main import main

sys.exit(main())

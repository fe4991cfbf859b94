import sys

from gatepass.process.main import main

sys.exit(main())

import sys

from dipcore.cli import main

sys.exit(main())

import sys

from minicontainer.cli import main

sys.exit(main())

import sys

from houseprice.training.cli import main

sys.exit(main())

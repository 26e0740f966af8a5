import sys

from otel_operator.cli import main

sys.exit(main())

import sys

from causal_agents.cli.main import main

sys.exit(main())

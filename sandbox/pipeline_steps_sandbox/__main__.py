"""`python -m pipeline_steps_sandbox`: the same as the `pipeline-steps-sandbox` command."""

import sys

from pipeline_steps_sandbox.cli import main

sys.exit(main())

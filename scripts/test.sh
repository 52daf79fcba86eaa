#!/usr/bin/env bash
# The whole test suite: set-up, then every test (unit, wire, forwarding core, data plane,
# command transcripts, end to end on the real kernel) through node's test runner.
# Tests run one file at a time: the end-to-end ones share the machine's two cores. The runner
# gets the *.test.js files only (given a folder, node would also run the helpers as tests).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec node --test --test-concurrency=1 --test-timeout=600000 $(find dist/test -name "*.test.js" | sort)

"""`python -m bench`: run the benchmark suite.

`python -m bench markdown [results.json]` prints a results file (default: bench/results/latest.json)
as a Markdown table instead.
"""

import json
import sys
from pathlib import Path

from bench.results import RESULTS_DIR, markdown_table
from bench.suite import main


def print_markdown(path: Path) -> int:
    document = json.loads(path.read_text())
    print(markdown_table(document["results"]))
    return 0


if __name__ == "__main__":  # the POST-to-visible load runs in a spawned child that imports this module
    if sys.argv[1:2] == ["markdown"]:
        sys.exit(print_markdown(Path(sys.argv[2]) if len(sys.argv) > 2 else RESULTS_DIR / "latest.json"))
    sys.exit(main())

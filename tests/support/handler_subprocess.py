"""Run one handler on one event in a fresh Python process whose environment holds only what is given.

The handler is imported as Lambda would import it (module scope runs first), so a default missing
from the code shows up as it would for a newcomer with a clean shell.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.support.paths import REPO_ROOT

_INVOKE = """
import json, sys
from pathlib import Path
from local_runtime.lambda_host import LambdaContext, load_handler

function, event_file = sys.argv[1], sys.argv[2]
handler = load_handler(Path("functions") / function / "app.py", repo_root=Path("."))
if event_file:
    answer = handler(json.loads(Path(event_file).read_text()), LambdaContext(function))
    print("ANSWER " + json.dumps(answer))
"""


def clean_environment(**variables: str) -> dict[str, str]:
    """PATH and `variables`, nothing else: no AWS_REGION, no POWERTOOLS_* settings."""
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **variables}


def run_handler(
    function: str, event_file: Path | None, environment: dict[str, str]
) -> tuple[subprocess.CompletedProcess[str], Any]:
    """Import functions/<function>/app.py and, given an event file, invoke it; (process, answer or None)."""
    finished = subprocess.run(
        [sys.executable, "-c", _INVOKE, function, str(event_file or "")],
        cwd=REPO_ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    answers = [line.removeprefix("ANSWER ") for line in finished.stdout.splitlines() if line.startswith("ANSWER ")]
    return finished, json.loads(answers[-1]) if answers else None

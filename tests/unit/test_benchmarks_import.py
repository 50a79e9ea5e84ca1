"""`make bench` imports its sibling scripts before bench_delivery sets the function's environment: none of them may
import sessionguard.observability at import time, or Powertools' Metrics is made without its namespace and every
benchmark delivery fails to flush (as from f680b65 until bench_init imported TRACED_MODULES inside init_times)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_importing_the_benchmarks_makes_no_powertools_objects() -> None:
    environment = {key: value for key, value in os.environ.items() if not key.startswith("POWERTOOLS_")}
    script = (
        "import sys; sys.path.insert(0, 'benchmarks')\n"
        "import bench_engine, bench_init, bench_delivery\n"
        "print('sessionguard.observability' in sys.modules)\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=environment, cwd=REPO, check=True
    )
    assert completed.stdout.strip() == "False"

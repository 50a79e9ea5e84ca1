"""How long the session alert function takes to start, against a bare `import boto3`, in fresh interpreters.

    .venv/bin/python benchmarks/bench_init.py     (bench_engine.py puts these fields in its JSON last line)

- `boto3_import_ms`: `import boto3` in a fresh interpreter, what any Python function that calls AWS pays.
- `handler_init_ms`: in a fresh interpreter, what a cold start of the session alert function does before the first
  delivery's own work: import functions/session_alerts/app.py (Powertools, the X-Ray SDK, the layer), load the rule
  pack and match a first command with it, build the outlets from the environment (template.yaml's variables), make
  the one boto3 client a quiet delivery calls with (CloudWatch Logs: since 4b4db85 a quiet delivery is one
  PutLogEvents call, its session-ledger record inside it; the DynamoDB client it made before is made only by a
  delivery that alerts) and mask a first line.
- `handler_floor_ms`: in a fresh interpreter, what the goal's own terms cost with none of SessionGuard's code:
  botocore's session (the function makes its clients with botocore alone: sessionguard.adapters.aws.sdk_session),
  Powertools' Logger, Metrics and Tracer made as sessionguard/observability.py makes them (tracing kept), the rule
  pack's first compile (the patterns of the Linux prefilter, the set a first command compiles, written to a file by
  this bench) and search, and the CloudWatch Logs client. The masker is left out: a lower bound for
  `handler_init_ms`, whatever SessionGuard's own modules cost.

All three run as in the function: with `python -S` (no site-packages) on a path that holds only what the layer ships
(the distributions layers/sessionguard/requirements.txt pins, linked from this environment: not the test tools,
nor packages such as awscrt or requests that botocore and the X-Ray SDK would import when present), the layer's
source and the function's directory. The environment looks like Lambda's to Powertools (LAMBDA_TASK_ROOT set,
tracing on), so the Tracer patches what it patches in the deployed function. Each figure is the best of `--repeat`
runs, taken alternately in the same run, after one run of each that is not counted.

All read compiled bytecode, as the function does (the layer ships it: layers/sessionguard/Makefile), from a cache of
their own (PYTHONPYCACHEPREFIX) that the uncounted runs write: otherwise a module edited since its `__pycache__` was
written is compiled again in every run where the environment forbids writing bytecode (PYTHONDONTWRITEBYTECODE, as
on this project's shared machines: ~80 ms of the handler's figure once), and the figure would depend on which files
were edited last.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Final

import trim_botocore  # layers/sessionguard, on the venv's path (the editable install)
from sessionguard.rules.pack import RulePack

REPO: Final = Path(__file__).resolve().parents[1]
BOTO3_IMPORT: Final = """
import time
start = time.perf_counter()
import boto3
print((time.perf_counter() - start) * 1000)
"""
HANDLER_INIT: Final = """
import sys, time
start = time.perf_counter()
import app
from sessionguard.alerting import session_alerts
from sessionguard.masking.masker import mask_secrets
# The rule pack compiles a pattern set on its first search: a first command, so that the compile counts.
session_alerts.default_rules().match("ls -la /var/log")
_, outlets = session_alerts.default_outlets()
# The client a quiet delivery calls with is made during it (adapters.aws.LazyClient): made here, so that it counts.
outlets.transcripts._client
mask_secrets("sh-4.2$ ls -la")
print((time.perf_counter() - start) * 1000)
"""
# What the goal's own terms cost with no SessionGuard code at all: botocore's session, Powertools' Logger, Metrics
# and Tracer as sessionguard/observability.py makes them (the Tracer patching botocore and httplib), the rule pack's
# first compile (the Linux prefilter's patterns, read from a file the bench writes) with a first search, and the
# CloudWatch Logs client. The masker's patterns are left out, so this is a lower bound. Its arguments: the patterns'
# file, then the modules the Tracer patches (observability.TRACED_MODULES).
HANDLER_FLOOR: Final = """
import sys, time
start = time.perf_counter()
import botocore.session
from aws_lambda_powertools import Logger, Metrics, Tracer
logger, tracer, metrics = Logger(), Tracer(patch_modules=tuple(sys.argv[2:])), Metrics()
import json, re2
options = re2.Options()
options.max_mem = 64 << 20
pattern_set = re2.Set.SearchSet(options)
with open(sys.argv[1], encoding="utf-8") as patterns:
    for pattern in json.load(patterns):
        pattern_set.Add(pattern)
pattern_set.Compile()
pattern_set.Match("ls -la /var/log")
botocore.session.get_session().create_client("logs")
print((time.perf_counter() - start) * 1000)
"""
LAMBDA_ENVIRONMENT: Final = {
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_LAMBDA_FUNCTION_NAME": "sessionguard-SessionAlertsFunction-Bench",
    "AWS_XRAY_CONTEXT_MISSING": "IGNORE_ERROR",
    "POWERTOOLS_SERVICE_NAME": "sessionguard",
    "POWERTOOLS_METRICS_NAMESPACE": "SessionGuard",
    "POWERTOOLS_LOG_LEVEL": "INFO",
    "ALERT_MIN_SEVERITY": "medium",
    "ALERT_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:sessionguard-alerts",
    "EXTRA_ALERT_TOPIC_ARN": "",
    "SLACK_WEBHOOK_SECRET_ARN": "",
    "ALERT_STATE_TABLE": "sessionguard-alert-state",
    "SANITIZED_LOG_GROUP": "/aws/ssm/sessionguard/sanitized",
    "SANITIZED_LOG_RETENTION_DAYS": "90",
    "FAILURE_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/sessionguard-alert-failures",
    "ALERT_WINDOW_MINUTES": "15",
    "ALERT_CAP_PER_SESSION": "20",
    "SESSION_LEDGER_TABLE": "sessionguard-session-ledger",
    "ALERT_EVENT_BUS": "default",
    "SECURITY_HUB_PRODUCT_ARN": "",
    "ALERT_LOG_GROUP": "/aws/ssm/sessionguard/sanitized",
    "TERMINATE_SESSIONS_AT_SEVERITY": "none",
    "NEVER_TERMINATE": "",
}


def _fresh_ms(script: str, environment: dict[str, str], *arguments: str) -> float:
    completed = subprocess.run(  # noqa: S603 - our own interpreter and script
        [sys.executable, "-S", "-c", script, *arguments],
        capture_output=True,
        text=True,
        env=environment,
        check=True,
        cwd=REPO,
    )
    return float(completed.stdout.strip().splitlines()[-1])


def link_layer_packages(directory: Path) -> None:
    """Link into `directory` the top-level modules of every distribution the layer pins, from this environment."""
    requirements = (REPO / "layers" / "sessionguard" / "requirements.txt").read_text(encoding="utf-8")
    for line in requirements.splitlines():
        requirement = line.split("#")[0].strip()
        if not requirement:
            continue
        distribution = importlib.metadata.distribution(re.split(r"[\[=<>]", requirement)[0])
        tops = {file.parts[0] for file in distribution.files or () if len(file.parts) > 0}
        for top in tops - {"__pycache__", ".."}:
            if top.endswith((".dist-info", ".data", "-stubs")):
                continue
            target = Path(str(distribution.locate_file(top)))
            if (directory / top).exists():
                continue
            if top == "botocore":
                trim_botocore.link_trimmed(target, directory / top, trim_botocore.listed_services())
            else:
                (directory / top).symlink_to(target)


def init_times(repeat: int = 5) -> dict[str, float]:
    """Best of `repeat` fresh-interpreter runs of each, alternated (see the module docstring)."""
    with (
        tempfile.TemporaryDirectory() as task_root,
        tempfile.TemporaryDirectory() as packages,
        tempfile.TemporaryDirectory() as bytecode,
    ):
        link_layer_packages(Path(packages))
        path = [str(REPO / "functions" / "session_alerts"), str(REPO / "layers" / "sessionguard"), packages]
        base = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("AWS_", "POWERTOOLS_")) and key != "PYTHONDONTWRITEBYTECODE"
        }
        environment = {
            **base,
            **LAMBDA_ENVIRONMENT,
            "LAMBDA_TASK_ROOT": task_root,
            "PYTHONPATH": os.pathsep.join(path),
            "PYTHONPYCACHEPREFIX": bytecode,
        }
        patterns = Path(bytecode) / "first-search-patterns.json"
        patterns.write_text(json.dumps(RulePack.load().first_search_patterns("linux")), encoding="utf-8")
        _fresh_ms(BOTO3_IMPORT, environment)  # uncounted: they write the bytecode cache
        _fresh_ms(HANDLER_INIT, environment)
        # Imported here, not with this module: importing sessionguard.observability makes Powertools' Metrics, which
        # reads its namespace from the environment then; bench_engine imports this module before bench_delivery has
        # set the function's environment, and its deliveries then failed to flush metrics without a namespace.
        from sessionguard.observability import TRACED_MODULES  # noqa: PLC0415

        floor_arguments = (str(patterns), *TRACED_MODULES)
        _fresh_ms(HANDLER_FLOOR, environment, *floor_arguments)
        boto3_runs, handler_runs, floor_runs = [], [], []
        for _ in range(repeat):
            boto3_runs.append(_fresh_ms(BOTO3_IMPORT, environment))
            handler_runs.append(_fresh_ms(HANDLER_INIT, environment))
            floor_runs.append(_fresh_ms(HANDLER_FLOOR, environment, *floor_arguments))
    boto3_ms, handler_ms, floor_ms = min(boto3_runs), min(handler_runs), min(floor_runs)
    return {
        "boto3_import_ms": round(boto3_ms, 1),
        "handler_init_ms": round(handler_ms, 1),
        "handler_init_over_boto3_import": round(handler_ms / boto3_ms, 2),
        "handler_floor_ms": round(floor_ms, 1),
        "handler_floor_over_boto3_import": round(floor_ms / boto3_ms, 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    print(json.dumps(init_times(args.repeat)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

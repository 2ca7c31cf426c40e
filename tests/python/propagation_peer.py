"""ddtrace's HTTPPropagator as a peer for tests/tests/propagation_ddtrace.rs.

Reads one JSON request on stdin and writes one JSON answer on stdout:

    {"env": {NAME: VALUE}, "mode": "inject", "cases": [context, ...]}
        -> [headers, ...]        (ddtrace injects each context)
    {"env": {NAME: VALUE}, "mode": "extract", "cases": [headers, ...]}
        -> [context | null, ...] (ddtrace extracts each header set)

A context is {"trace_id": "<decimal u128>", "span_id": "<decimal>", "sampling_priority": int|null,
"origin": str|null, "tags": {"_dd.p.*": str}, "baggage": {str: str}}. The environment is applied
before ddtrace is imported, since ddtrace reads its propagation settings at import time.
"""

import json
import os
import sys

request = json.load(sys.stdin)
os.environ.update(request["env"])

from ddtrace.propagation.http import HTTPPropagator  # noqa: E402
from ddtrace.trace import Context  # noqa: E402


def inject(case):
    context = Context(
        trace_id=int(case["trace_id"]),
        span_id=int(case["span_id"]),
        dd_origin=case.get("origin"),
        sampling_priority=case.get("sampling_priority"),
        meta=dict(case.get("tags") or {}),
        baggage=dict(case.get("baggage") or {}),
    )
    headers = {}
    HTTPPropagator.inject(context, headers)
    return headers


def extract(headers):
    context = HTTPPropagator.extract(headers)
    if context is None:
        return None
    priority = context.sampling_priority
    return {
        "trace_id": None if context.trace_id is None else str(context.trace_id),
        "span_id": None if context.span_id is None else str(context.span_id),
        "sampling_priority": None if priority is None else int(priority),
        "origin": context.dd_origin,
        "tags": {k: v for k, v in context._meta.items() if k.startswith("_dd.p.")},
        "baggage": {k: str(v) for k, v in (context._baggage or {}).items()},
    }


handler = inject if request["mode"] == "inject" else extract
json.dump([handler(case) for case in request["cases"]], sys.stdout)

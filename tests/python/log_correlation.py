"""Prints what ddtrace's `tracer.get_log_correlation_context()` returns for given contexts.

Usage: python log_correlation.py TRACE_ID:SPAN_ID [TRACE_ID:SPAN_ID ...]
(decimal integers; the trace id may be up to 128 bits). Prints one JSON object per context, on
one line each, in the order given. DD_SERVICE / DD_ENV / DD_VERSION come from the environment.
"""

import json
import sys

from ddtrace.trace import Context, tracer


def main() -> None:
    for argument in sys.argv[1:]:
        trace_id, span_id = (int(part) for part in argument.split(":"))
        tracer.context_provider.activate(Context(trace_id=trace_id, span_id=span_id))
        print(json.dumps(tracer.get_log_correlation_context()), flush=True)
    tracer.context_provider.activate(None)


if __name__ == "__main__":
    main()

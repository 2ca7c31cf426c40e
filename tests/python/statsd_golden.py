"""Golden calls through Datadog's official Python client (datadog==0.56.0).

Usage: python statsd_golden.py PORT

Sends, to the DogStatsD sink on 127.0.0.1:PORT, the same calls that
tests/tests/statsd_golden.rs makes through datadog-statsd, in the same order.
Telemetry and origin detection are off so only the calls themselves are sent.
"""

import sys

from datadog.dogstatsd import DogStatsd


def main(port):
    statsd = DogStatsd(
        host="127.0.0.1",
        port=port,
        disable_telemetry=True,
        origin_detection_enabled=False,
    )
    statsd.distribution("our-sample-app.sample-metric", 1)
    statsd.distribution("our-sample-app.sample-metric", 1, tags=["env:test", "bad|tag,x"])
    statsd.increment("page.views", tags=["route:/users"])
    statsd.increment("page.views", 5)
    statsd.decrement("page.views")
    statsd.gauge("queue.depth", 12.5, tags=["a:b", "c"])
    statsd.histogram("req.size", 512)
    statsd.timing("req.latency", 12.5)
    statsd.set("users.unique", "user-42")
    statsd.gauge_with_timestamp("g", 5, timestamp=1656581400)
    statsd.count_with_timestamp("c", 3, timestamp=1656581400)
    statsd.event("Tïtle", "line1\nline2", alert_type="warning", tags=["a:b"])
    statsd.event(
        "Deploy ✓",
        "version 42 | all green",
        alert_type="success",
        aggregation_key="deploy",
        source_type_name="rust",
        date_happened=1656581400,
        priority="low",
        hostname="web-1",
    )
    statsd.service_check("svc.check", 2, message="m:boom\nx", tags=["a:b"])
    statsd.service_check("svc.ok", 0, hostname="web-1", timestamp=1656581400)
    statsd.flush()
    statsd.close_socket()

    namespaced = DogStatsd(
        host="127.0.0.1",
        port=port,
        disable_telemetry=True,
        origin_detection_enabled=False,
        namespace="app",
        constant_tags=["team:web"],
    )
    namespaced.distribution("request.duration", 2.5, tags=["k:v"])
    namespaced.increment("hits")
    namespaced.flush()
    namespaced.close_socket()


if __name__ == "__main__":
    main(int(sys.argv[1]))

"""dbapp's Prometheus metrics (names fixed by the platform design).

Module-level, so each process registers them once. Under gunicorn with
PROMETHEUS_MULTIPROC_DIR set, every worker writes its own samples and /metrics
sums them (houseprice.metrics.metrics_payload).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from pymongo import monitoring

# The service's own registry: several services can share one Python process (tests).
REGISTRY = CollectorRegistry()

# collection: "predictions" | "corrections" (the API's names, not the configured ones).
STORE_REQUESTS = Counter(
    "store_requests_total",
    "Store requests by collection and HTTP status",
    ["collection", "status"],
    registry=REGISTRY,
)
RETRIEVE_REQUESTS = Counter(
    "retrieve_requests_total",
    "Retrieve (get/list) requests by collection and HTTP status",
    ["collection", "status"],
    registry=REGISTRY,
)
STORE_LATENCY = Histogram(
    "store_latency_seconds", "Time to handle a store request", ["collection"], registry=REGISTRY
)
RETRIEVE_LATENCY = Histogram(
    "retrieve_latency_seconds",
    "Time to handle a retrieve request",
    ["collection"],
    registry=REGISTRY,
)
DOCUMENTS_INSERTED = Counter(
    "documents_inserted_total",
    "New documents written (idempotent retries excluded)",
    ["collection"],
    registry=REGISTRY,
)
DB_ERRORS = Counter(
    "db_errors_total", "Failed MongoDB operations", ["operation"], registry=REGISTRY
)
# The most recent outcome of any worker's MongoDB call: 1 reachable, 0 not.
MONGO_HEALTH = Gauge(
    "mongo_health_status",
    "1 if the last MongoDB operation succeeded, 0 if it failed",
    multiprocess_mode="mostrecent",
    registry=REGISTRY,
)
# Open pool connections, summed over live workers.
MONGO_CONNECTIONS = Gauge(
    "mongo_active_connections",
    "Open MongoDB pool connections of this service",
    multiprocess_mode="livesum",
    registry=REGISTRY,
)


class PoolConnections(monitoring.ConnectionPoolListener):
    """Keeps mongo_active_connections equal to the pool's open connections."""

    def connection_created(self, event: monitoring.ConnectionCreatedEvent) -> None:
        MONGO_CONNECTIONS.inc()

    def connection_closed(self, event: monitoring.ConnectionClosedEvent) -> None:
        MONGO_CONNECTIONS.dec()

    # The remaining events carry nothing this gauge needs.
    def pool_created(self, event: monitoring.PoolCreatedEvent) -> None: ...
    def pool_ready(self, event: monitoring.PoolReadyEvent) -> None: ...
    def pool_cleared(self, event: monitoring.PoolClearedEvent) -> None: ...
    def pool_closed(self, event: monitoring.PoolClosedEvent) -> None: ...
    def connection_ready(self, event: monitoring.ConnectionReadyEvent) -> None: ...
    def connection_check_out_started(self, event: monitoring.ConnectionCheckOutStartedEvent): ...
    def connection_check_out_failed(self, event: monitoring.ConnectionCheckOutFailedEvent): ...
    def connection_checked_out(self, event: monitoring.ConnectionCheckedOutEvent) -> None: ...
    def connection_checked_in(self, event: monitoring.ConnectionCheckedInEvent) -> None: ...

import CoreMetrics
import Metrics
import Prometheus
import Synchronization

/// The relay's metrics, in a Prometheus registry the server owns: created through an
/// explicit `PrometheusMetricsFactory`, never the global `MetricsSystem`, so several
/// relays can run in one process (tests) without sharing counters.
final class RelayMetrics: Sendable {
    /// The registry `/metrics` renders.
    let registry: PrometheusCollectorRegistry
    /// HTTP requests being handled, WebSocket upgrades included.
    let activeRequests: CoreMetrics.Meter
    /// Open feed WebSockets.
    let subscribers: CoreMetrics.Meter
    /// Live sessions (recorded on each session change).
    let sessions: CoreMetrics.Gauge
    /// Bundles newly stored by pushes to this relay.
    let bundlesStored: CoreMetrics.Counter
    /// Bundles already held when pushed again.
    let bundlesDuplicate: CoreMetrics.Counter
    /// Bundles sent in pulls and feeds.
    let bundlesServed: CoreMetrics.Counter
    /// Request body bytes of pushes.
    let bytesIn: CoreMetrics.Counter
    /// Bundle bytes sent in pulls and feeds.
    let bytesOut: CoreMetrics.Counter
    /// Feed subscribers closed for falling behind.
    let feedOverflows: CoreMetrics.Counter
    /// Announced bundles the feed could not read (their space's feeds were ended).
    let feedReadFailures: CoreMetrics.Counter
    /// Reads of an announced bundle that failed and were tried again.
    let feedReadRetries: CoreMetrics.Counter
    /// Data bundles whose bytes retention dropped (`Specs/snapshots.md` §5.2).
    let bundlesDropped: CoreMetrics.Counter
    /// The bytes retention dropped.
    let bytesDropped: CoreMetrics.Counter
    /// Open TCP connections (HTTP and feed WebSockets).
    let connections: CoreMetrics.Meter
    /// Challenges issued and not yet used or expired (recorded on each scrape).
    let challenges: CoreMetrics.Gauge
    /// Request body bytes held in memory now (recorded on each scrape).
    let inFlightBodyBytes: CoreMetrics.Gauge

    private let factory: PrometheusMetricsFactory
    private let refusals = Mutex<[String: CoreMetrics.Counter]>([:])

    init() {
        registry = PrometheusCollectorRegistry()
        factory = PrometheusMetricsFactory(registry: registry)
        activeRequests = CoreMetrics.Meter(label: "concord_relay_active_requests", factory: factory)
        subscribers = CoreMetrics.Meter(label: "concord_relay_feed_subscribers", factory: factory)
        sessions = CoreMetrics.Gauge(label: "concord_relay_sessions", factory: factory)
        bundlesStored = CoreMetrics.Counter(label: "concord_relay_bundles_stored_total", factory: factory)
        bundlesDuplicate = CoreMetrics.Counter(label: "concord_relay_bundles_duplicate_total", factory: factory)
        bundlesServed = CoreMetrics.Counter(label: "concord_relay_bundles_served_total", factory: factory)
        bytesIn = CoreMetrics.Counter(label: "concord_relay_bytes_in_total", factory: factory)
        bytesOut = CoreMetrics.Counter(label: "concord_relay_bytes_out_total", factory: factory)
        feedOverflows = CoreMetrics.Counter(label: "concord_relay_feed_overflows_total", factory: factory)
        feedReadFailures = CoreMetrics.Counter(label: "concord_relay_feed_read_failures_total", factory: factory)
        feedReadRetries = CoreMetrics.Counter(label: "concord_relay_feed_read_retries_total", factory: factory)
        bundlesDropped = CoreMetrics.Counter(label: "concord_relay_bundles_dropped_total", factory: factory)
        bytesDropped = CoreMetrics.Counter(label: "concord_relay_bytes_dropped_total", factory: factory)
        feedReadRetries.increment(by: 0)
        feedReadFailures.increment(by: 0)
        connections = CoreMetrics.Meter(label: "concord_relay_connections", factory: factory)
        challenges = CoreMetrics.Gauge(label: "concord_relay_challenges", factory: factory)
        inFlightBodyBytes = CoreMetrics.Gauge(label: "concord_relay_inflight_body_bytes", factory: factory)
        sessions.record(0)
        activeRequests.set(0.0)
        subscribers.set(0.0)
        connections.set(0.0)
        challenges.record(0)
        inFlightBodyBytes.record(0)
    }

    /// Counts a refusal under `concord_relay_refusals_total{code="…"}`.
    func refusal(_ code: String) {
        let counter = refusals.withLock { counters in
            if let counter = counters[code] { return counter }
            let counter = CoreMetrics.Counter(label: "concord_relay_refusals_total", dimensions: [("code", code)], factory: factory)
            counters[code] = counter
            return counter
        }
        counter.increment()
    }

    /// The Prometheus text exposition.
    func render() -> [UInt8] {
        registry.emitToBuffer()
    }
}

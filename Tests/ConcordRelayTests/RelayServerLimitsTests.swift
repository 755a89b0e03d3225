import Concord
import ConcordRelay
import ConcordSync
import Foundation
import Testing

/// §6: size, quota and rate limits; health and metrics.
@Suite struct RelayServerLimitsTests {
    @Test func tooLargeBodyIs413() async throws {
        let space = try TestSpace()
        let a = try makeBundles(space.alice, count: 4, payloadBytes: 600)
        try await RelayHarness.with({ $0.maxRequestBytes = 2048 }) { relay in
            let alice = try await relay.login(space.alice)
            let answer = try await relay.push(a, to: space.id, token: alice)
            #expect(answer.status == 413)
            #expect(try answer.error().error == "too-large")
            #expect(try await relay.snapshot(space.id).bundles.isEmpty)
            #expect(try await relay.push([a[0]], to: space.id, token: alice).status == 200)
        }
    }

    @Test func quotaIs507() async throws {
        let space = try TestSpace()
        let a = try makeBundles(space.alice, count: 3)
        let quota = Int64(a[0].bytes.count + a[1].bytes.count / 2)
        try await RelayHarness.with({ $0.spaceQuotaBytes = quota }) { relay in
            let alice = try await relay.login(space.alice)
            #expect(try await relay.push([a[0]], to: space.id, token: alice).status == 200)
            let before = try await relay.snapshot(space.id)
            let answer = try await relay.push(Array(a[1...]), to: space.id, token: alice)
            #expect(answer.status == 507)
            #expect(try answer.error().error == "quota-exceeded")
            #expect(try await relay.snapshot(space.id) == before)
        }
    }

    @Test func rateLimitIs429WithRetryAfter() async throws {
        let space = try TestSpace()
        try await RelayHarness.with({
            // One token per 1,000 s: a slow, loaded machine cannot refill the bucket between
            // the burst and the refused request (one token per 20 s did refill when a loaded
            // machine stalled the test for minutes).
            $0.requestsPerSecond = 0.001
            $0.requestBurst = 3
        }) { relay in
            let alice = try await relay.login(space.alice)
            for _ in 0..<3 {
                #expect(try await relay.request(.GET, RelayAPI.path(space.id, "vector"), token: alice).status == 200)
            }
            let limited = try await relay.request(.GET, RelayAPI.path(space.id, "vector"), token: alice)
            #expect(limited.status == 429)
            #expect(try limited.error().error == "rate-limited")
            let retryAfter = try #require(limited.headers.first(name: "Retry-After").flatMap(Int.init))
            #expect(retryAfter >= 1 && retryAfter <= 1000)
            // Another session has its own bucket.
            let bob = try await relay.login(space.bob)
            #expect(try await relay.request(.GET, RelayAPI.path(space.id, "vector"), token: bob).status == 200)
        }
    }

    @Test func healthzAnswersWithBackend() async throws {
        try await RelayHarness.with { relay in
            let answer = try await relay.request(.GET, "/healthz")
            #expect(answer.status == 200)
            #expect(try answer.json([String: String].self) == ["status": "ok", "backend": "sqlite"])
        }
    }

    @Test func metricsCountBundlesAndRefusals() async throws {
        let space = try TestSpace()
        let a = try makeBundles(space.alice, count: 2)
        try await RelayHarness.with { relay in
            let alice = try await relay.login(space.alice)
            _ = try await relay.push(a, to: space.id, token: alice)
            _ = try await relay.push(a, to: space.id, token: alice)
            _ = try await relay.pull(space.id, token: alice)
            _ = try await relay.request(.GET, RelayAPI.path(space.id, "vector"))
            let answer = try await relay.request(.GET, "/metrics")
            #expect(answer.status == 200)
            #expect(answer.headers.first(name: "Content-Type")?.hasPrefix("text/plain") == true)
            let text = answer.text
            for line in [
                "concord_relay_bundles_stored_total 2", "concord_relay_bundles_duplicate_total 2",
                "concord_relay_bundles_served_total 2", #"concord_relay_refusals_total{code="unauthenticated"} 1"#,
                "concord_relay_sessions 1",
            ] {
                #expect(text.contains(line), "missing \(line) in\n\(text)")
            }
            for name in ["concord_relay_bytes_in_total", "concord_relay_bytes_out_total", "concord_relay_active_requests", "concord_relay_feed_subscribers"] {
                #expect(text.contains(name), "missing \(name)")
            }
        }
    }

    @Test func twoRelaysInOneProcessKeepSeparateMetrics() async throws {
        let space = try TestSpace()
        let a = try makeBundles(space.alice, count: 1)
        try await RelayHarness.with { first in
            try await RelayHarness.with { second in
                let token = try await first.login(space.alice)
                _ = try await first.push(a, to: space.id, token: token)
                #expect(try await first.request(.GET, "/metrics").text.contains("concord_relay_bundles_stored_total 1"))
                #expect(try await second.request(.GET, "/metrics").text.contains("concord_relay_bundles_stored_total 0"))
            }
        }
    }
}

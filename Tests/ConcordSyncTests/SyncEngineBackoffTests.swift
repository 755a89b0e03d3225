import ConcordSync
import Foundation
import Testing

@Suite("SyncEngine backoff and error classes")
struct SyncEngineBackoffTests {
    @Test("full jitter stays under min(maxDelay, base · 2^attempt); Retry-After wins")
    func fullJitter() {
        let options = SyncEngine.Options(baseDelay: 0.5, maxDelay: 30)
        for attempt in 0..<12 {
            let bound = min(30, 0.5 * Double(1 << attempt))
            let delays = (0..<200).map { _ in options.retryDelay(attempt: attempt) }
            #expect(delays.allSatisfy { $0 >= 0 && $0 <= bound })
            #expect(delays.max()! > bound / 4, "jitter should spread over [0, \(bound)]")
        }
        #expect(options.retryDelay(attempt: 0, retryAfter: 7) == 7)
        #expect(options.retryDelay(attempt: 0, retryAfter: 300) == 30)
    }

    @Test("transient: unreachable, cut, 429, 5xx, missing-predecessor; not 403, 409 fork, 422, 507")
    func transience() {
        #expect(ConcordSyncError(.unreachable, "x").isTransient)
        #expect(ConcordSyncError(.cutShort, "x").isTransient)
        #expect(ConcordSyncError.relayRefused(status: 429, relayCode: "rate-limited", message: "x", retryAfter: 1).isTransient)
        #expect(ConcordSyncError.relayRefused(status: 503, relayCode: "unavailable", message: "x").isTransient)
        #expect(ConcordSyncError.relayRefused(status: 409, relayCode: "missing-predecessor", message: "x").isTransient)
        #expect(!ConcordSyncError.relayRefused(status: 409, relayCode: "fork", message: "x").isTransient)
        #expect(!ConcordSyncError.relayRefused(status: 403, relayCode: "read-only", message: "x").isTransient)
        #expect(!ConcordSyncError.relayRefused(status: 422, relayCode: "invalid-bundle", message: "x").isTransient)
        #expect(!ConcordSyncError.relayRefused(status: 507, relayCode: "quota-exceeded", message: "x").isTransient)
        #expect(!ConcordSyncError(.checksumMismatch, "x").isTransient)
    }

    @Test("status descriptions")
    func statusText() {
        #expect(SyncEngine.Status.offline.description == "offline")
        #expect(SyncEngine.Status.syncing(.init(bundlesReceived: 3, bytesReceived: 10, bundlesTotal: 4)).description == "syncing 3/4 bundles, 10 bytes")
        #expect(SyncEngine.SyncProgress(bundlesReceived: 1, bundlesTotal: 4).fractionDone == 0.25)
    }
}

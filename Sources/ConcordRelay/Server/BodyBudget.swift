import Synchronization

/// The relay-wide bound on request body bytes held in memory at once
/// (``RelayConfiguration/maxInFlightBodyBytes``, `Specs/relay-api.md` §6).
///
/// A request reserves its `Content-Length` before reading (or each chunk as it arrives
/// when there is none) and gives it back when it is answered. A reservation that does not
/// fit is `503 busy`: the client retries after `Retry-After`, and the relay never holds
/// more than the budget of bodies, whatever the number of concurrent pushes.
final class BodyBudget: Sendable {
    private let used = Mutex(0)
    /// The budget, in bytes.
    let limit: Int

    init(limit: Int) {
        self.limit = max(0, limit)
    }

    /// Bytes reserved now.
    var reserved: Int { used.withLock { $0 } }

    /// Reserves `bytes`.
    /// - Throws: ``RelayError`` `.busy` when they do not fit.
    func reserve(_ bytes: Int) throws(RelayError) {
        let fits = used.withLock { used in
            guard bytes <= limit - used else { return false }
            used += bytes
            return true
        }
        guard fits else {
            throw RelayError(
                .busy, "the relay is receiving as much data as it holds at once (\(limit) bytes); retry after the Retry-After delay",
                retryAfter: 1)
        }
    }

    /// Gives `bytes` back.
    func release(_ bytes: Int) {
        guard bytes > 0 else { return }
        used.withLock { $0 -= bytes }
    }
}

/// What one request reserved of the ``BodyBudget``; given back when it goes out of scope.
struct BodyReservation: ~Copyable {
    let budget: BodyBudget
    private(set) var bytes = 0

    init(_ budget: BodyBudget) {
        self.budget = budget
    }

    /// Reserves `count` more bytes.
    /// - Throws: ``RelayError`` `.busy`.
    mutating func grow(by count: Int) throws(RelayError) {
        try budget.reserve(count)
        bytes += count
    }

    deinit {
        budget.release(bytes)
    }
}

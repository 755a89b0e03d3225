import ConcordCore
import ConcordCrypto
import ConcordStore

/// This replica's own progress as the store holds it: the clock, its generation, the
/// acknowledged sequences and the device identity.
///
/// Several processes (or several ``Replica`` instances) may share one store, so nothing
/// here is trusted from memory: every write transaction reads it first and merges
/// (`Specs/hlc.md` §7). Values only grow, except when a recovery deliberately steps the
/// clock back or changes the identity; it then bumps ``generation``, and an instance that
/// sees a new generation adopts the stored clock instead of merging its own.
struct StoredProgress {
    /// `clock.last`.
    var clock: HLCTimestamp
    /// `clock.generation`: bumped each time the clock is deliberately stepped back.
    var generation: UInt64
    /// `sync.acknowledged-sequence`.
    var acknowledged: UInt64
    /// `sync.relay-confirmed-sequence`: the highest own sequence a relay confirmed holding
    /// with the same bundle ids (a push it stored or counted as duplicate); `nil` when
    /// never written (then ``acknowledged`` stands in for it).
    var relayConfirmed: UInt64?
    /// `device.public-key`.
    var device: [UInt8]?
    /// `sync.forked-at`: the first own sequence known to be forked (another copy of this
    /// store signed a different bundle there); `nil` when no fork is known.
    var forkedAt: UInt64?

    /// Reads it inside a transaction.
    static func read(from tx: any StoreReader) throws -> StoredProgress {
        StoredProgress(
            clock: HLCTimestamp(rawValue: try tx.metadata(MetaKey.clock).map(MetaKey.decodeUInt64) ?? 0),
            generation: try tx.metadata(MetaKey.clockGeneration).map(MetaKey.decodeUInt64) ?? 0,
            acknowledged: try tx.metadata(MetaKey.acknowledged).map(MetaKey.decodeUInt64) ?? 0,
            relayConfirmed: try tx.metadata(MetaKey.relayConfirmed).map(MetaKey.decodeUInt64),
            device: try tx.metadata(MetaKey.device),
            forkedAt: try tx.metadata(MetaKey.forkedAt).map(MetaKey.decodeUInt64))
    }

    /// Stores `reading` as `clock.last` unless the store already holds a later one.
    static func raiseClock(to reading: HLCTimestamp, in tx: any StoreWriter) throws {
        let stored = try tx.metadata(MetaKey.clock).map(MetaKey.decodeUInt64) ?? 0
        if reading.rawValue > stored {
            try tx.setMetadata(MetaKey.encodeUInt64(reading.rawValue), for: MetaKey.clock)
        }
    }

    /// Stores `sequence` as the acknowledged sequence unless a larger one is stored. Never
    /// at or past a known fork of this device's chain: a peer that names sequence `n` of
    /// this device may hold the other copy's bundle `n` (`Specs/sync-protocol.md` §5).
    static func raiseAcknowledged(to sequence: UInt64, in tx: any StoreWriter) throws {
        let stored = try tx.metadata(MetaKey.acknowledged).map(MetaKey.decodeUInt64) ?? 0
        var sequence = sequence
        if let forkedAt = try tx.metadata(MetaKey.forkedAt).map(MetaKey.decodeUInt64) {
            sequence = min(sequence, forkedAt - 1)
        }
        if sequence > stored {
            try tx.setMetadata(MetaKey.encodeUInt64(sequence), for: MetaKey.acknowledged)
        }
    }
}

extension Replica {
    /// The clock to stamp with inside a write transaction: this instance's clock merged
    /// with the stored one (or the stored one alone after a recovery stepped it back).
    /// Also refuses to write when the store was recovered under another identity.
    /// - Throws: ``ConcordError`` `.identityChanged`.
    func currentClock(_ stored: StoredProgress) throws -> HybridLogicalClock {
        if let device = stored.device, device != membership.device.publicKey.bytes {
            let now = (try? PublicKey(bytes: device)).map { $0.hex.prefix(8) } ?? "?"
            throw ConcordError(
                .identityChanged,
                "this store now belongs to device \(now) (it was recovered under a new identity, maybe by another process); this Replica instance is device \(membership.device.publicKey.hex.prefix(8)): open the store again"
            )
        }
        if stored.generation != clockGeneration {
            clockGeneration = stored.generation
            clock = HybridLogicalClock(physicalClock: options.physicalClock, maxDrift: options.maxDrift, last: stored.clock)
        } else {
            clock.resume(from: stored.clock)
        }
        return clock
    }
}

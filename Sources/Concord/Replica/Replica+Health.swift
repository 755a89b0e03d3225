import ConcordCore
import ConcordCrypto
import ConcordStore

/// Finding what only the device's owner can fix: a wrong clock, a forked history
/// (`Specs/hlc.md` §9, `Specs/sync-protocol.md` §5).
extension Replica {
    /// What is wrong with this device, if anything; also in ``status()``.
    ///
    /// ```swift
    /// if let problem = try await replica.problems().first {
    ///     print(problem.message)   // "This device's clock says 2000-01-01 00:00 UTC, but ..."
    /// }
    /// ```
    /// - Parameters:
    ///   - realTime: A second opinion on the time (ms since the Unix epoch), for example a
    ///     relay's `Date` header: it tells a clock that is behind now from one that was
    ///     ahead before.
    /// - Returns: The problems, most urgent first; empty when all is well.
    public func problems(realTime: UInt64? = nil) throws -> [ReplicaProblem] {
        try ConcordError.storage { try store.read { try problems(in: $0, realTime: realTime) } }
    }

    func problems(in tx: any StoreReader, realTime: UInt64?) throws -> [ReplicaProblem] {
        let stored = try StoredProgress.read(from: tx)
        let now = options.physicalClock.nowMilliseconds()
        let drift = options.maxDrift
        let horizon = HybridLogicalClock.saturatingAdd(now, drift)
        let device = membership.device.publicKey.hex.prefix(8)
        var found: [ReplicaProblem] = []
        if let forkedAt = stored.forkedAt {
            found.append(
                ReplicaProblem(
                    kind: .forked, remedy: .recover,
                    message:
                        "This store and a copy of it (a backup that was restored, or a copied folder) both wrote as device \(device): its change \(forkedAt) exists twice, and other devices keep only one. Run `concord recover` (Replica.recover()) on this copy: it continues under a new device identity and shares every change the others do not have yet. Nothing written on either copy is lost.",
                    deviceTime: now, forkedAt: forkedAt))
        }
        let clockText = CalendarTime.text(now)
        let last = max(stored.clock, clock.last)
        if let realTime, realTime > horizon {
            found.append(
                ReplicaProblem(
                    kind: .clockBehind, remedy: .setClock,
                    message:
                        "This device's clock says \(clockText), but the relay's says \(CalendarTime.text(realTime)): set this device's date and time, then sync again. Nothing is lost meanwhile; changes made until then lose to every newer change.",
                    deviceTime: now, evidenceTime: realTime))
        } else if let realTime, now > HybridLogicalClock.saturatingAdd(realTime, drift) {
            found.append(
                ReplicaProblem(
                    kind: .clockAhead, remedy: .setClock,
                    message:
                        "This device's clock says \(clockText), but the relay's says \(CalendarTime.text(realTime)): set this device's date and time, then sync again. Changes made until then are kept here and shared once the clock is right.",
                    deviceTime: now, evidenceTime: realTime))
        } else if last.milliseconds > horizon {
            let others = try newestReadingOfOthers(in: tx)
            if others.milliseconds > horizon {
                found.append(
                    ReplicaProblem(
                        kind: .clockBehind, remedy: .setClock,
                        message:
                            "This device's clock says \(clockText), but it already holds changes made at \(others.calendarText): set this device's date and time, then sync again. Nothing is lost meanwhile.",
                        deviceTime: now, evidenceTime: others.milliseconds))
            } else if realTime != nil {
                found.append(
                    ReplicaProblem(
                        kind: .wroteAhead, remedy: .recover,
                        message:
                            "This device wrote at \(last.calendarText) while its clock was wrong; its clock now says \(clockText), and the relay agrees. Other devices refuse changes dated more than \(CalendarTime.duration(drift)) ahead, so run `concord recover` (Replica.recover()): this device continues under a new identity and shares every change not yet synced, with the right time.",
                        deviceTime: now, evidenceTime: last.milliseconds))
            } else {
                found.append(
                    ReplicaProblem(
                        kind: .clockDisagrees, remedy: .setClockOrRecover,
                        message:
                            "This device's clock says \(clockText), but it already wrote at \(last.calendarText). If today is not \(CalendarTime.date(now)), set the date and time, then sync again. If it is, the clock was wrong when it wrote: run `concord recover` (Replica.recover()), which shares every change not yet synced with the right time.",
                        deviceTime: now, evidenceTime: last.milliseconds))
            }
        }
        let issued = membership.latestIssueTime
        if issued > horizon, found.allSatisfy({ $0.kind != .clockBehind }) {
            let reader = membership.space == nil
            found.append(
                ReplicaProblem(
                    kind: .membershipFromTheFuture, remedy: reader ? .joinAgain : .setClockOrRecover,
                    message: reader
                        ? "This device's membership is dated \(CalendarTime.text(issued)) (it joined while a clock was wrong); other devices refuse it until then. Ask a writer for a new read-only invite and join again, or wait until then."
                        : "This device's membership is dated \(CalendarTime.text(issued)) (it joined while its clock was wrong); open the store again with the right date and time and Concord renews it.",
                    deviceTime: now, evidenceTime: issued))
        }
        if let denied = try writesDeniedProblem(in: tx, now: now) { found.append(denied) }
        if let dropped = try writesDroppedProblem(in: tx, now: now) { found.append(dropped) }
        return found
    }

    /// This device's own writes the resurrection guard drops (`Specs/crdt-semantics.md`
    /// §11.4), in its chain order.
    func droppedOwnWrites(in tx: any StoreReader) throws -> [GuardedOperation] {
        try scanDroppedOwnWrites(in: tx).dropped
    }

    /// ``droppedOwnWrites(in:)``, with the number of bundles it opened.
    ///
    /// A checkpoint `C` can drop this device's write in its bundle `k` only when
    /// `k > R_C[me]` and the bundle's context lacks a delete at or below `S_C`. A chain's
    /// contexts only grow (each is the device's held vector when it sealed), so once one of
    /// its data bundles' contexts includes `S_C`, no later bundle is dropped because of `C`.
    /// The scan follows each checkpoint from `R_C[me] + 1` to the first such bundle: for a
    /// device that acknowledged before `C` (it was counted), that is its very next bundle,
    /// so a sync round opens about one bundle per checkpoint, not the device's whole chain
    /// since its first checkpoint (regression: problems() did that at every round, and a
    /// busy device's rounds slowed down as its chain grew).
    func scanDroppedOwnWrites(in tx: any StoreReader) throws -> (dropped: [GuardedOperation], opened: Int) {
        guard membership.isMemberFormat else { return ([], 0) }
        let state = try Self.memberContext(in: tx, reusing: memberCache, spaceID: spaceID, encrypted: membership.isEncrypted).0.state
        let guarding = ResurrectionGuard(state: state)
        let me = membership.device.publicKey
        guard guarding.isActive, let head = try tx.chainHead(of: me)?.sequence else { return ([], 0) }
        var waiting = guarding.checkpoints.filter { $0.seen[me] < head }.sorted { $0.seen[me] < $1.seen[me] }[...]
        var active: [ResurrectionGuard.Checkpoint] = []
        var opener = try BundleOpener(membership: membership, in: tx)
        var dropped: [GuardedOperation] = []
        var opened = 0
        var sequence = (waiting.first?.seen[me] ?? head) + 1
        while sequence <= head {
            while let next = waiting.first, next.seen[me] < sequence { active.append(waiting.removeFirst()) }
            guard !active.isEmpty else {
                guard let next = waiting.first else { break }
                sequence = next.seen[me] + 1
                continue
            }
            defer { sequence += 1 }
            guard let stored = try tx.bundle(of: me, sequence: sequence) else { continue }
            let bundle = try StoreDestination.decode(stored)
            guard !bundle.isControl else { continue }
            opened += 1
            guard case .success(let contents) = try opener.contentsOrVoid(of: bundle) else { continue }
            var context = contents.context
            context[me] = sequence - 1
            active.removeAll { context.includes($0.stable) }
            guard !active.isEmpty else { continue }
            for (_, _, op) in contents.placedOperations where StoreDestination.isWrite(op) {
                guard let delete = ResurrectionGuard.deleteBundle(of: try tx.record(op.record, in: op.collection)?.state),
                    guarding.drops(author: me, sequence: sequence, context: contents.context, delete: delete)
                else { continue }
                dropped.append(GuardedOperation(author: me, sequence: sequence, operation: op, delete: delete))
            }
        }
        return (dropped, opened)
    }

    /// ``scanDroppedOwnWrites(in:)`` in a read of the store.
    func scanDroppedOwnWrites() throws -> (dropped: [GuardedOperation], opened: Int) {
        try ConcordError.storage { try store.read { try scanDroppedOwnWrites(in: $0) } }
    }

    /// ``ReplicaProblem/Kind/writesDroppedAfterAbsence`` when the guard drops writes of this
    /// device (`Specs/snapshots.md` §3 "is told"): how many, when, the records, when they
    /// were deleted, and the values; without those ``dismissProblem(_:)`` dismissed.
    func writesDroppedProblem(in tx: any StoreReader, now: UInt64) throws -> ReplicaProblem? {
        let dismissed = try Self.dismissed(.writesDroppedAfterAbsence, in: tx)
        let dropped = try droppedOwnWrites(in: tx).filter { !dismissed.contains(Self.droppedKey($0)) }
        guard !dropped.isEmpty else { return nil }
        let made = dropped.map(\.operation.stamp.hlc.milliseconds)
        let (firstDay, lastDay) = (CalendarTime.date(made.min()!), CalendarTime.date(made.max()!))
        let when = firstDay == lastDay ? "on \(firstDay)" : "between \(firstDay) and \(lastDay)"
        var deletedDays: Set<String> = []
        var lines: [String] = []
        for op in dropped {
            if let deletedAt = try tx.record(op.record, in: op.collection)?.state.deletedAt {
                deletedDays.insert(CalendarTime.date(deletedAt.hlc.milliseconds))
            }
            switch op.operation.action {
            case .set(let field, let value): lines.append("\(op.collection)/\(op.record) \(field) = \(value)")
            case .add(let field, let value): lines.append("\(op.collection)/\(op.record) \(field) + \(value)")
            case .remove, .delete: break
            }
        }
        let deleted = deletedDays.sorted()
        let deletedWhen = deleted.count == 1 ? "on \(deleted[0])" : "between \(deleted.first ?? "?") and \(deleted.last ?? "?")"
        let changes = dropped.count == 1 ? "1 change" : "\(dropped.count) changes"
        let verb = dropped.count == 1 ? "was" : "were"
        return ReplicaProblem(
            kind: .writesDroppedAfterAbsence, remedy: .review,
            message:
                "\(changes) made on this device \(when) \(verb) to records deleted \(deletedWhen) while this device was away; \(dropped.count == 1 ? "it was" : "they were") not applied: \(lines.joined(separator: "; ")). Enter them again as new records if they are still wanted; then `concord dismiss writes-dropped` (Replica.dismissProblem) stops reporting them.",
            deviceTime: now, evidenceTime: made.max())
    }

    /// The newest reading of any other author's chain (its head bundle's `hlc max`).
    func newestReadingOfOthers(in tx: any StoreReader) throws -> HLCTimestamp {
        let me = membership.device.publicKey
        var newest = HLCTimestamp.zero
        for (author, head) in try tx.chainHeads() where author != me {
            guard let stored = try tx.bundle(of: author, sequence: head.sequence) else { continue }
            newest = max(newest, try StoreDestination.decode(stored).hlcRange.upperBound)
        }
        return newest
    }

    /// Records that another copy of this store signed a different bundle at `sequence` of
    /// this device's chain (seen in an import or refused by a relay): what comes from
    /// there on is no longer acknowledged, and ``problems(realTime:)`` reports the fork
    /// until ``recover()``.
    package func recordFork(at sequence: UInt64) throws {
        try ConcordError.storage {
            try store.write { tx in
                let stored = try StoredProgress.read(from: tx)
                _ = try currentClock(stored)
                try Self.markForked(at: sequence, stored: stored, in: tx)
            }
        }
    }

    static func markForked(at sequence: UInt64, stored: StoredProgress, in tx: any StoreWriter) throws {
        let at = max(1, min(sequence, stored.forkedAt ?? .max))
        try tx.setMetadata(MetaKey.encodeUInt64(at), for: MetaKey.forkedAt)
        if stored.acknowledged >= at {
            try tx.setMetadata(MetaKey.encodeUInt64(at - 1), for: MetaKey.acknowledged)
        }
        if let confirmed = stored.relayConfirmed, confirmed >= at {
            try tx.setMetadata(MetaKey.encodeUInt64(at - 1), for: MetaKey.relayConfirmed)
        }
    }
}

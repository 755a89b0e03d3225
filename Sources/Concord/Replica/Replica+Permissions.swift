import ConcordCore
import ConcordCrypto
import ConcordStore
import Foundation

extension Replica {
    /// The ops of applied bundles that the space's permission policy denied
    /// (`Specs/permissions.md` §6.3): not applied on any replica, their bundles kept in
    /// their chains. Derived data: recomputed when a policy, a role or a key arrives late.
    ///
    /// ```swift
    /// for denied in try replica.deniedOperations() {
    ///     print(denied.author.hex.prefix(8), denied.denial.message)
    /// }
    /// ```
    /// - Parameters:
    ///   - author: Only this device's ops, when given.
    ///   - since: Only ops stamped at or after this time, when given.
    /// - Returns: The denials, by author, sequence and index.
    /// - Throws: `ConcordError` `.storage`, or `.storeDamaged` when a stored denial does not decode.
    public func deniedOperations(by author: DeviceID? = nil, since: HLCTimestamp? = nil) throws -> [DeniedOperation] {
        let rows = try ConcordError.storage { try store.read { try $0.permissionDenials(ofBundle: nil) } }
        return try rows.compactMap { row in
            if let author, row.author != author.publicKey { return nil }
            let denied = try DeniedOperation(
                bundleID: BundleID(digest: row.bundleID), author: row.author, sequence: row.sequence, section: row.section,
                index: row.index, detail: row.detail)
            if let since, denied.stamp.hlc < since { return nil }
            return denied
        }
    }
}

extension Replica {
    /// A new record id owned by this device (`Specs/permissions.md` §5.1): a version-8 UUID
    /// bound to this device (and its successors) in this space, so that rights limited to
    /// `own` records (a learner's `update: own`) reach it. Use it wherever a record is made
    /// on this device instead of `UUID()`; in a space without a policy it is an ordinary
    /// unique id (62 random bits per device).
    ///
    /// ```swift
    /// struct Result: Codable, Identifiable { var id: UUID; var answer: String }
    /// let result = Result(id: replica.newRecordID().uuid, answer: "42")
    /// try await replica.save(result, in: "results")
    /// ```
    /// - Returns: An id bound to ``deviceID`` in ``spaceID``.
    public nonisolated func newRecordID() -> RecordID {
        RecordID.owned(by: deviceID, in: spaceID)
    }

    /// The ops the space's policy denied, as they are found: one element per import (or
    /// recomputation after a late policy or role change) that denied ops, with the new
    /// denials (`Specs/permissions.md` §6.3). An admin's app shows who tried what; a
    /// learner's app tells its user that a change was not applied (this device's own
    /// ops, `denied.author == replica.deviceID.publicKey`, also raise
    /// ``ReplicaProblem/Kind/writesDeniedByPolicy`` in ``problems(realTime:)``).
    ///
    /// ```swift
    /// for await denials in await replica.deniedOperationUpdates() {
    ///     for denied in denials { print(denied.denial.message) }   // "learners may not write field `grade` ..."
    /// }
    /// ```
    /// A slow listener loses the oldest elements beyond the observer buffer
    /// (`Options.observerBufferLimit`); ``deniedOperations(by:since:)`` has them all. The
    /// stream ends when the task iterating it is cancelled.
    public func deniedOperationUpdates() -> AsyncStream<[DeniedOperation]> {
        let (stream, continuation) = AsyncStream<[DeniedOperation]>.makeStream(
            bufferingPolicy: .bufferingNewest(max(1, options.observerBufferLimit)))
        let id = UUID()
        denialListeners[id] = continuation
        continuation.onTermination = { [weak self] _ in
            Task { await self?.removeDenialListener(id) }
        }
        return stream
    }

    func removeDenialListener(_ id: UUID) {
        denialListeners[id] = nil
    }

    /// Sends new denials to the listeners of ``deniedOperationUpdates()``.
    func notifyDenials(_ denied: [DeniedOperation]) {
        guard !denied.isEmpty else { return }
        for listener in denialListeners.values { listener.yield(denied) }
    }

    /// ``ReplicaProblem/Kind/writesDeniedByPolicy`` when the policy denied ops this device
    /// wrote (§6.3), with how many, when, the latest reason and who set the policy.
    func writesDeniedProblem(in tx: any StoreReader, now: UInt64) throws -> ReplicaProblem? {
        guard membership.isMemberFormat else { return nil }
        let me = membership.device.publicKey
        let dismissed = try Self.dismissed(.writesDeniedByPolicy, in: tx)
        let rows = try tx.permissionDenials(ofBundle: nil).filter { $0.author == me && !dismissed.contains(Self.denialKey($0)) }
        guard !rows.isEmpty else { return nil }
        let mine = try rows.map { row in
            try DeniedOperation(
                bundleID: BundleID(digest: row.bundleID), author: row.author, sequence: row.sequence, section: row.section,
                index: row.index, detail: row.detail)
        }
        let first = mine.map(\.stamp.hlc.milliseconds).min() ?? now
        let newest = mine.max { $0.stamp < $1.stamp }!
        let (firstDay, lastDay) = (CalendarTime.date(first), CalendarTime.date(newest.stamp.hlc.milliseconds))
        let when = firstDay == lastDay ? "on \(firstDay)" : "between \(firstDay) and \(lastDay)"
        var setBy = ""
        if let policy = newest.policy {
            let state = try Self.memberContext(in: tx, reusing: memberCache, spaceID: spaceID, encrypted: membership.isEncrypted).0.state
            if let applied = state.policies.first(where: { $0.by.bundleID == policy }) {
                let name = state.member(applied.by.author)?.name ?? String(applied.by.author.hex.prefix(8))
                setBy = " (policy set by \(name) on \(CalendarTime.date(HLCTimestamp(rawValue: applied.by.stamp).milliseconds)))"
            }
        }
        let changes = mine.count == 1 ? "1 change" : "\(mine.count) changes"
        let verb = mine.count == 1 ? "was" : "were"
        return ReplicaProblem(
            kind: .writesDeniedByPolicy, remedy: .review,
            message:
                "\(changes) made on this device \(when) \(verb) not applied: \(newest.denial.message)\(setBy). Review them (concord log --denied) and redo what the policy allows; ask an admin if the policy should allow more. Once reviewed, `concord dismiss writes-denied` (Replica.dismissProblem) stops reporting them.",
            deviceTime: now, evidenceTime: newest.stamp.hlc.milliseconds)
    }
}

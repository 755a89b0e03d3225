import ConcordCore
import ConcordCrypto
import ConcordProtocol
import Synchronization

/// What the relay knows of each space's membership (`Specs/membership.md` §8): the space's
/// bundle format (from its first stored bundle), and for spaces with members the control
/// bundles it stores and their evaluation. Learnt blind, from what it verifies: it reads
/// the bundles appended since it last looked (positions only grow), never a content key.
///
/// Several relays on one PostgreSQL database each keep their own directory; each catches up
/// from the shared storage before deciding.
final class MemberDirectory: Sendable {
    struct Space: Sendable {
        /// The bundle format of the space's bundles; `nil` while it holds none.
        var format: UInt8?
        /// Control bundles stored, in storage order.
        var controls: [ChangeBundle] = []
        /// The last storage position read.
        var position: Int64 = 0
        /// The evaluation of ``controls`` (format 3).
        var state: MembershipState?
        /// Authors of at least one stored data bundle (format 3), those whose bytes
        /// retention dropped included: a data bundle acknowledges its author's chain, so
        /// they count for the relay's stable cut (``RelayStability``).
        var dataAuthors: Set<PublicKey> = []
    }

    private let spaces = Mutex<[SpaceID: Space]>([:])

    /// The bundle format already known for a space (no storage read).
    func knownFormat(_ spaceID: SpaceID) -> UInt8? { spaces.withLock { $0[spaceID]?.format } }

    /// The space's entry, caught up with storage.
    func refresh(_ spaceID: SpaceID, storage: any RelayStorage) async throws -> Space {
        var entry = spaces.withLock { $0[spaceID] } ?? Space()
        var changed = false
        while true {
            let page = try await storage.bundles(in: spaceID, since: VersionVector(), afterPosition: entry.position, limit: 512)
            for stored in page {
                entry.position = max(entry.position, stored.position)
                guard stored.bytes.count > 5 else {
                    // A row without bytes: retention dropped them, and it drops data bundles only.
                    if stored.bytes.isEmpty { entry.dataAuthors.insert(stored.author) }
                    continue
                }
                if entry.format == nil { entry.format = stored.bytes[4] }
                guard stored.bytes[4] == ChangeBundle.memberFormatVersion else { continue }
                guard stored.bytes[5] & 0x02 != 0 else {
                    entry.dataAuthors.insert(stored.author)
                    continue
                }
                guard let bundle = try? ChangeBundle(bytes: stored.bytes, limits: BundleLimits(maxBundleBytes: .max)) else { continue }
                entry.controls.append(bundle)
                changed = true
            }
            // A space of format 2 has no control bundles: its first bundle says so.
            if page.count < 512 || entry.format == ChangeBundle.formatVersion { break }
        }
        if changed || (entry.state == nil && entry.format == ChangeBundle.memberFormatVersion) {
            entry.state = Self.evaluate(entry.controls, spaceID: spaceID)
        }
        let result = entry
        spaces.withLock { current in
            // Another request may have caught up further meanwhile: keep the furthest.
            if let other = current[spaceID], other.position > result.position { return }
            current[spaceID] = result
        }
        return result
    }

    /// The state of `controls`: the genesis says whether the space is encrypted (its op
    /// decodes one way only).
    static func evaluate(_ controls: [ChangeBundle], spaceID: SpaceID) -> MembershipState {
        let encrypted =
            controls.lazy.compactMap { bundle -> Bool? in
                guard bundle.sequence == 1 else { return nil }
                if case .genesis(_, let flag, _, _)? = try? bundle.controlOp(encrypted: true) { return flag }
                if case .genesis(_, let flag, _, _)? = try? bundle.controlOp(encrypted: false) { return flag }
                return nil
            }.first ?? false
        let records = controls.compactMap { try? $0.membershipRecord(encrypted: encrypted) }
        return MembershipState.evaluate(ops: records, spaceID: spaceID, encrypted: encrypted)
    }
}

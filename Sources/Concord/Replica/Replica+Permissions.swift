import ConcordCore
import ConcordCrypto
import ConcordStore

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

import ConcordCore

/// The data layout shared with `Tests/IntegrationTests/CrashSafetyTests.swift` (kept in
/// sync by hand: the worker is a separate executable).
///
/// - The worker writes LWW fields `w0`…`w4` and the OR-set `wt` in collections `shared`
///   and `private`, and deletes records only in `private`.
/// - The peer writes fields `p0`…`p4` and the OR-set `pt` in `shared` and `peer`, and
///   deletes records only in `peer`.
///
/// So every field has one writer, and the expected state is exact.
enum Layout {
    static let recordsPerCollection = 50
    static let workerCollections = ["shared", "private"]
    static let workerFields = ["w0", "w1", "w2", "w3", "w4"]
    static let workerSet = "wt"
    static let tagMembers: Int64 = 6

    static func recordID(_ collection: String, _ index: Int) -> RecordID {
        let high: UInt64 = switch collection {
        case "shared": 0x5348_4152_4544_0000
        case "private": 0x5052_4956_4154_0000
        default: 0x5045_4552_0000_0000
        }
        return RecordID(high: high, low: UInt64(index))
    }
}

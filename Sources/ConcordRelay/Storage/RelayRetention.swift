import ConcordCore
import ConcordCrypto
import ConcordProtocol

/// What one retention pass dropped (``RelayStorage/dropBundleBytes(in:through:hlcBelow:)``,
/// `Specs/snapshots.md` §5.2, `Specs/relay-api.md` §7).
///
/// ```swift
/// let summary = try await storage.dropBundleBytes(in: space, through: bound, hlcBelow: .max)
/// print("dropped \(summary.dropped) bundles, \(summary.bytes) bytes")
/// ```
public struct RetentionSummary: Sendable, Hashable {
    /// Data bundles whose bytes were dropped by this pass.
    public var dropped = 0
    /// The bytes they held (taken off the space's usage).
    public var bytes: Int64 = 0
    /// Rows this pass read once to learn whether they are control or data bundles and their
    /// `hlc max` (rows stored before the migration, and PostgreSQL rows, are classified lazily).
    public var classified = 0

    /// An empty summary.
    public init() {}
}

/// The rules a retention pass shares between the storage backends.
enum RetentionRule {
    /// `kind` of a data bundle row.
    static let dataKind: Int64 = 0
    /// `kind` of a control bundle row (kept for ever).
    static let controlKind: Int64 = 1

    /// Whether a stored bundle is a control bundle, and its `hlc max`, read from its header.
    /// A bundle that does not decode (it was verified when pushed, so only a damaged row)
    /// counts as control: it is kept.
    /// - Parameters:
    ///   - bytes: The stored bundle bytes.
    /// - Returns: The row's `kind` and `hlc_max` columns.
    static func classify(_ bytes: [UInt8]) -> (kind: Int64, hlcMax: Int64) {
        guard let bundle = try? ChangeBundle(bytes: bytes, limits: BundleLimits(maxBundleBytes: .max)) else {
            return (controlKind, 0)
        }
        return classify(bundle)
    }

    /// The `kind` and `hlc_max` columns of `bundle`.
    /// - Parameters:
    ///   - bundle: A verified bundle.
    /// - Returns: The row's `kind` and `hlc_max` columns.
    static func classify(_ bundle: ChangeBundle) -> (kind: Int64, hlcMax: Int64) {
        (bundle.isControl ? controlKind : dataKind, Int64(clamping: bundle.hlcRange.upperBound.rawValue))
    }

    /// The `hlc_max` bound as a column value: every HLC reading is below 2^63.
    static func column(_ hlcBelow: UInt64) -> Int64 { Int64(clamping: hlcBelow) }
}

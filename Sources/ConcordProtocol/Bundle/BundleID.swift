import ConcordCrypto

/// The id of a change bundle: BLAKE2b-256 of its signed bytes.
///
/// Equal ids mean byte-identical signed content; the per-author hash chain links each
/// bundle to the id of the author's previous one. The first bundle of an author links
/// to ``zero``.
///
/// ```swift
/// print(bundle.id)                  // 64 hex digits
/// assert(next.previous == bundle.id)
/// ```
public struct BundleID: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// The 32-byte digest.
    public let digest: Digest32

    /// Wraps a BLAKE2b-256 digest.
    /// - Parameters:
    ///   - digest: The digest of a bundle's signed bytes.
    public init(digest: Digest32) {
        self.digest = digest
    }

    /// Thirty-two zero bytes: the `previous` link of an author's first bundle.
    public static let zero = BundleID(digest: try! Digest32(bytes: [UInt8](repeating: 0, count: 32)))

    /// The id of the bundle whose signed bytes are `signedBytes`.
    static func of(signedBytes: some Collection<UInt8>) -> BundleID {
        BundleID(digest: Blake2b.hash(signedBytes))
    }

    /// The id's 32 bytes.
    public var bytes: [UInt8] { digest.bytes }

    /// The id as 64 lowercase hexadecimal digits.
    public var hex: String { digest.hex }

    /// The first 8 hexadecimal digits, for logs and messages.
    public var shortDescription: String { String(hex.prefix(8)) }

    /// The same as ``hex``.
    public var description: String { hex }

    /// Orders ids by their bytes.
    public static func < (lhs: BundleID, rhs: BundleID) -> Bool { lhs.digest < rhs.digest }
}

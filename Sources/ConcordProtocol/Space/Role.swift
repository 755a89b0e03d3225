/// What a member of a space may do; stated in its ``MembershipCertificate``.
///
/// | role | may | certified by |
/// |---|---|---|
/// | ``writer`` | read, write (seal bundles), invite writers and readers | the space key |
/// | ``reader`` | read | the space key or a ``readerIssuer`` |
/// | ``readerIssuer`` | certify ``reader``s, nothing else | the space key |
///
/// A ``readerIssuer`` key is what a read-only invite carries: the joining device makes
/// its own key and certifies it as a reader with the issuer key, so no two devices share
/// a key. Only writers' bundles are accepted on import.
public enum Role: UInt8, Hashable, Sendable, CaseIterable, CustomStringConvertible {
    /// A full member: its bundles are accepted.
    case writer = 1
    /// A read-only member: its bundles are rejected with `notAWriter`.
    case reader = 2
    /// A key that may only certify readers; its own bundles are rejected.
    case readerIssuer = 3

    /// The role's wire byte (`01` writer, `02` reader, `03` reader issuer).
    var byte: UInt8 { rawValue }

    /// `writer`, `reader` or `readerIssuer`.
    public var description: String {
        switch self {
        case .writer: "writer"
        case .reader: "reader"
        case .readerIssuer: "readerIssuer"
        }
    }
}

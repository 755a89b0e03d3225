/// What a member of a space may do under the replicated membership model
/// (`Specs/membership.md` §1 and §3).
///
/// | role | may |
/// |---|---|
/// | ``admin`` | read, write, and manage membership (invite, set roles, remove, revoke, rotate) |
/// | ``writer`` | read and write |
/// | ``reader`` | read |
///
/// Roles are ordered by what they allow: `reader < writer < admin`. The wire bytes are
/// `01` admin, `02` writer, `03` reader. (The format-2 ``Role`` is a different type and is
/// left unchanged until bundle format 3 replaces it.)
///
/// ```swift
/// let role = try #require(MemberRole(byte: 0x02))
/// assert(role == .writer && role.canWrite && role < .admin)
/// ```
public enum MemberRole: UInt8, Hashable, Sendable, CaseIterable, Comparable, CustomStringConvertible {
    /// Reads, writes and manages membership.
    case admin = 1
    /// Reads and writes.
    case writer = 2
    /// Reads only: its data bundles are refused with `notAWriter`.
    case reader = 3

    /// The role of a wire byte, or `nil` for a byte that names no role.
    /// - Parameters:
    ///   - byte: `01`, `02` or `03`.
    public init?(byte: UInt8) { self.init(rawValue: byte) }

    /// The role's wire byte.
    public var byte: UInt8 { rawValue }

    /// Whether bundles of this role are applied (admins and writers).
    public var canWrite: Bool { self != .reader }

    /// How much the role allows: reader 1, writer 2, admin 3.
    var rank: Int {
        switch self {
        case .admin: 3
        case .writer: 2
        case .reader: 1
        }
    }

    /// Orders roles by what they allow: `reader < writer < admin`.
    public static func < (lhs: MemberRole, rhs: MemberRole) -> Bool { lhs.rank < rhs.rank }

    /// `admin`, `writer` or `reader`.
    public var description: String {
        switch self {
        case .admin: "admin"
        case .writer: "writer"
        case .reader: "reader"
        }
    }
}

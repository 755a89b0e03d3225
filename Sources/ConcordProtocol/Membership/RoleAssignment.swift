import ConcordCore

/// The role an `invite` or `set-role` op gives a member (`Specs/permissions.md` §3.1): a
/// built-in ``MemberRole``, or a policy role (`learner`, `teacher`) with its **base**,
/// `writer` or `reader`.
///
/// Membership only ever reads the ``base``: admission, ranks, retroactivity and epoch
/// recipients treat `learner (writer)` exactly as `writer`. What a policy role may write
/// is the policy's business (`Specs/permissions.md` §2.1). On the wire a built-in role is
/// its byte (`01`, `02`, `03`); a named one is `04 ‖ base ‖ string name`.
///
/// ```swift
/// let learner = try RoleAssignment(named: "learner", base: .writer)
/// assert(learner.base == .writer && learner.canWrite && learner != .writer)
/// let op = MembershipOp.setRole(target: device, role: learner, boundary: 4)
/// ```
public struct RoleAssignment: Hashable, Sendable, CustomStringConvertible {
    /// The wire byte of a named role.
    public static let namedByte: UInt8 = 4

    /// The built-in role membership applies: ``MemberRole/writer`` or
    /// ``MemberRole/reader`` for a policy role.
    public let base: MemberRole
    /// The policy role's name, or `nil` for a built-in role.
    public let name: String?

    /// A built-in role.
    /// - Parameters:
    ///   - role: `admin`, `writer` or `reader`.
    public init(_ role: MemberRole) {
        base = role
        name = nil
    }

    /// A policy role.
    /// - Parameters:
    ///   - name: 1 to 32 bytes: `a`–`z` first, then `a`–`z`, `0`–`9`, `_`, `-`; never
    ///     `admin`, `writer` or `reader`.
    ///   - base: `.writer` or `.reader`.
    /// - Throws: ``ConcordError`` `.malformedBundle` for a bad name or an `admin` base
    ///   (a policy cannot name `admin`).
    public init(named name: String, base: MemberRole) throws(ConcordError) {
        if let problem = Self.problem(name: name, base: base) { throw ConcordError(.malformedBundle, "role: \(problem)") }
        self.base = base
        self.name = name
    }

    /// An admin.
    public static let admin = RoleAssignment(.admin)
    /// The built-in writer.
    public static let writer = RoleAssignment(.writer)
    /// The built-in reader.
    public static let reader = RoleAssignment(.reader)

    /// Whether bundles of this role are applied (its base is admin or writer).
    public var canWrite: Bool { base.canWrite }

    /// The role as the permission decision sees it (`Specs/permissions.md` §6.2); `nil`
    /// for a reader base, whose bundles admission refuses before any decision.
    public var permissionRole: PolicyDecision.Role? {
        switch (base, name) {
        case (.admin, _): .admin
        case (.writer, nil): .writer
        case (.writer, let name?): .named(name, base: .writer)
        case (.reader, _): nil
        }
    }

    /// `admin`, `writer`, `reader`, or the policy role's name (`learner`).
    public var description: String { name ?? base.description }

    /// Why `name` and `base` do not make a policy role, or `nil` when they do.
    static func problem(name: String, base: MemberRole) -> String? {
        guard base != .admin else { return "a named role with base admin (the base is 02 writer or 03 reader)" }
        return Policy.roleNameProblem(name)
    }
}

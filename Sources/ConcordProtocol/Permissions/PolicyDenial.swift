/// Why an op was denied (`Specs/permissions.md` §6.2 and §6.5): a stable reason code, the
/// role and collection concerned, and a message for the user.
///
/// ```swift
/// if case .denied(let denial) = decision {
///     print(denial.message)   // learners may not write field `grade` of collection `results`
///     assert(denial.reason == .field)
/// }
/// ```
public struct PolicyDenial: Hashable, Sendable, CustomStringConvertible {
    /// The reason code of a denial. A struct rather than an enum, so later versions can add
    /// reasons without breaking callers that compare against them. ``code`` is stable (API,
    /// `--json`); messages may be translated.
    public struct Reason: Hashable, Sendable, CustomStringConvertible {
        private enum Kind: String, Hashable, Sendable, CaseIterable {
            case roleNotInPolicy = "role-not-in-policy"
            case policyBroken = "policy-broken"
            case noGrant = "no-grant"
            case wrongSection = "wrong-section"
            case field
            case create
            case update
            case delete
            case createNotOwn = "create-not-own"
            case updateNotOwn = "update-not-own"
            case deleteNotOwn = "delete-not-own"
            case badSection = "bad-section"
        }

        private let kind: Kind
        private init(_ kind: Kind) { self.kind = kind }

        /// The reason with the stable code `code` (for example `no-grant`), or `nil`.
        /// - Parameters:
        ///   - code: A code of §6.2's table.
        public init?(code: String) {
            guard let kind = Kind(rawValue: code) else { return nil }
            self.kind = kind
        }

        /// The author's role is not defined, with the same base, by the governing policy
        /// (or no policy governs and the role is a policy role).
        public static let roleNotInPolicy = Reason(.roleNotInPolicy)
        /// The governing policy does not decode or authenticate: only admins may write.
        public static let policyBroken = Reason(.policyBroken)
        /// The role has no grant in the collection's entry, or the collection has no entry.
        public static let noGrant = Reason(.noGrant)
        /// The op is in the general section of a scoped collection, or in a section not
        /// sealed for the collection's readers.
        public static let wrongSection = Reason(.wrongSection)
        /// The grant's field list does not allow the op's field.
        public static let field = Reason(.field)
        /// The grant's `create` right is `none`.
        public static let create = Reason(.create)
        /// The grant's `update` right is `none`.
        public static let update = Reason(.update)
        /// The grant's `delete` right is `none`.
        public static let delete = Reason(.delete)
        /// `create` is `own` and the record is not bound to the author's family.
        public static let createNotOwn = Reason(.createNotOwn)
        /// `update` is `own` and the record is not bound to the author's family.
        public static let updateNotOwn = Reason(.updateNotOwn)
        /// `delete` is `own` and the record is not bound to the author's family.
        public static let deleteNotOwn = Reason(.deleteNotOwn)
        /// The op's section does not open or decode (stage 4; never returned by ``PolicyDecision/decide(_:role:policy:section:isCreate:isOwn:)``).
        public static let badSection = Reason(.badSection)

        /// The stable code, for example `role-not-in-policy`.
        public var code: String { kind.rawValue }

        /// The same as ``code``.
        public var description: String { code }
    }

    /// Why the op was denied.
    public let reason: Reason
    /// The role the op was decided with: `writer` or a policy role's name (`admin` for an
    /// admin's misplaced op).
    public let role: String
    /// The op's collection.
    public let collection: String
    /// The op's field, for `set`, `add` and `remove`.
    public let field: String?
    /// The sentence shown to the user, for example "learners may not write field `grade`
    /// of collection `results`".
    public let message: String

    /// A denial.
    /// - Parameters:
    ///   - reason: The reason code.
    ///   - role: The role decided with.
    ///   - collection: The op's collection.
    ///   - field: The op's field, if any.
    ///   - message: The user message.
    public init(reason: Reason, role: String, collection: String, field: String?, message: String) {
        self.reason = reason
        self.role = role
        self.collection = collection
        self.field = field
        self.message = message
    }

    /// The code and the message: `field: learners may not write ...`.
    public var description: String { "\(reason): \(message)" }

    /// A role in the plural for messages (§6.2): the name plus `s` (`writer` gives
    /// `writers`), or "members with role `x`" when the name ends in `s`.
    /// - Parameters:
    ///   - role: A role name.
    public static func plural(_ role: String) -> String {
        role.hasSuffix("s") ? "members with role `\(role)`" : "\(role)s"
    }
}

import ConcordCore

/// A space's permission policy (`Specs/permissions.md` §2 and §3): policy roles, and per
/// collection who may write what and who may read it.
///
/// A policy is a value with exactly one canonical ``body`` (§3.3); it is read from the JSON
/// users write (§3.4, ``init(json:encrypted:)``), printed back as normalized JSON
/// (``normalizedJSON``), and decoded from the bytes of a `set-policy` op
/// (``init(body:encrypted:)``). Every way in checks the same rules, so two devices never
/// disagree on whether a policy is valid.
///
/// Names are compared, sorted and looked up by their UTF-8 bytes, never with Unicode
/// normalization: `"é"` precomposed and decomposed are two different collections
/// (`Specs/crdt-semantics.md` §1). Equality and hashing compare the bodies.
///
/// ```swift
/// let policy = try Policy(json: text, encrypted: space.isEncrypted)
/// let grant = policy.entry(for: "results")?.grant(for: "learner")
/// assert(grant?.update == .own)
/// print(policy.normalizedJSON)          // what `concord policy show --json` prints
/// let again = try Policy(body: policy.body, encrypted: space.isEncrypted)
/// assert(again == policy)
/// ```
public struct Policy: Hashable, Sendable {
    /// The body format this build writes and reads.
    public static let bodyVersion: UInt8 = 1
    /// The most policy roles a policy defines (32).
    public static let maxRoles = 32
    /// The most entries a policy has, the wildcard included (64).
    public static let maxEntries = 64
    /// The most field patterns one grant lists (64).
    public static let maxPatterns = 64
    /// The longest collection name or field pattern, in UTF-8 bytes (255).
    public static let maxNameBytes = 255
    /// The longest policy role name, in bytes (32).
    public static let maxRoleNameBytes = 32
    /// The largest body, in bytes (16,384).
    public static let maxBodyBytes = 16_384
    /// The name of the wildcard entry, used for collections without an entry of their own.
    public static let wildcard = "*"

    /// The base of a policy role: all that membership knows about it (§2.1).
    public enum Base: UInt8, Hashable, Sendable, CustomStringConvertible {
        /// Bundles are admitted; what may be written is the policy's grants.
        case writer = 2
        /// Bundles are refused by admission; it may only read.
        case reader = 3

        /// `writer` or `reader`.
        public var description: String { self == .writer ? "writer" : "reader" }
    }

    /// A policy role: a name (1 to 32 bytes: `a`–`z` first, then `a`–`z`, `0`–`9`, `_`,
    /// `-`; never `admin`, `writer` or `reader`) and its base.
    public struct RoleDefinition: Sendable, CustomStringConvertible {
        /// The role's name, for example `learner`.
        public var name: String
        /// The role's base.
        public var base: Base

        /// Defines a role.
        /// - Parameters:
        ///   - name: The role's name.
        ///   - base: `.writer` or `.reader`.
        public init(_ name: String, base: Base) {
            self.name = name
            self.base = base
        }

        /// `learner (writer)`.
        public var description: String { "\(name) (\(base))" }
    }

    /// What a grant allows for one right (§2.3).
    public enum Access: UInt8, Hashable, Sendable, CustomStringConvertible {
        /// Not allowed.
        case none = 0
        /// Allowed on records bound to the author's family only (§5.1).
        case own = 1
        /// Allowed on every record.
        case any = 2

        /// `none`, `own` or `any`.
        public var description: String {
            switch self {
            case .none: "none"
            case .own: "own"
            case .any: "any"
            }
        }
    }

    /// Which fields a grant's `set`, `add` and `remove` ops may name (§2.3).
    public enum Fields: Sendable {
        /// Every field.
        case all
        /// Only fields matching one of the patterns.
        case allow([String])
        /// Every field but those matching one of the patterns.
        case deny([String])
    }

    /// What one role may write in one entry (§2.3).
    public struct Grant: Sendable {
        /// The role granted: `writer` or a policy role of base writer.
        public var role: String
        /// Whether the role may make its family's first op on a record.
        public var create: Access
        /// Whether the role may write a record its family has written before.
        public var update: Access
        /// Whether the role may delete records.
        public var delete: Access
        /// Which fields it may write.
        public var fields: Fields

        /// A grant.
        /// - Parameters:
        ///   - role: `writer` or a policy role of base writer.
        ///   - create: The create right; `.none` by default.
        ///   - update: The update right; `.none` by default.
        ///   - delete: The delete right; `.none` by default.
        ///   - fields: The fields it may write; all by default.
        public init(_ role: String, create: Access = .none, update: Access = .none, delete: Access = .none, fields: Fields = .all) {
            self.role = role
            self.create = create
            self.update = update
            self.delete = delete
            self.fields = fields
        }

        /// The grant JSON spells `"all"`: create, update and delete `any`, every field.
        /// - Parameters:
        ///   - role: The role granted.
        public static func all(_ role: String) -> Grant {
            Grant(role, create: .any, update: .any, delete: .any)
        }

        /// Whether this is the grant JSON spells `"all"`.
        public var isAll: Bool {
            guard case .all = fields else { return false }
            return create == .any && update == .any && delete == .any
        }
    }

    /// A collection's entry (§2.2): its grants, and optionally the roles that may read it.
    public struct Entry: Sendable {
        /// The collection's name, or `"*"` for the wildcard entry.
        public var collection: String
        /// The roles that may read the collection (admins always may); `nil` when every
        /// member may (the entry is not scoped, §7).
        public var read: [String]?
        /// The grants, at most one per role, sorted by role.
        public var grants: [Grant]

        /// An entry.
        /// - Parameters:
        ///   - collection: The collection's name, or `"*"`.
        ///   - read: The roles that may read it; `nil` for every member.
        ///   - grants: The grants, in any order.
        public init(_ collection: String, read: [String]? = nil, grants: [Grant]) {
            self.collection = collection
            self.read = read
            self.grants = grants
        }

        /// Whether the entry has a read list (its ops are sealed for its readers, §7).
        public var isScoped: Bool { read != nil }

        /// The grant to `role` (compared by UTF-8 bytes), or `nil`.
        /// - Parameters:
        ///   - role: `writer` or a policy role's name.
        public func grant(for role: String) -> Grant? {
            grants.first { PolicyText.same($0.role, role) }
        }
    }

    /// The policy roles, sorted by name.
    public let roles: [RoleDefinition]
    /// The entries, sorted by collection name (by UTF-8 bytes; `*` sorts among them).
    public let entries: [Entry]
    /// The canonical body (§3.3): the bytes a `set-policy` op carries.
    public let body: [UInt8]

    /// Builds a policy from its parts, sorting every list by UTF-8 bytes and checking
    /// every rule of §3.3.
    ///
    /// ```swift
    /// let policy = try Policy(
    ///     roles: [.init("learner", base: .writer)],
    ///     entries: [.init("results", grants: [.init("learner", create: .own, update: .own, fields: .deny(["grade"]))])],
    ///     encrypted: true)
    /// ```
    /// - Parameters:
    ///   - roles: The policy roles, in any order.
    ///   - entries: The entries, in any order (read lists and patterns too).
    ///   - encrypted: Whether the space encrypts payloads (read lists need it).
    /// - Throws: ``ConcordError`` `.invalidPolicy` naming the broken rule.
    public init(roles: [RoleDefinition], entries: [Entry], encrypted: Bool) throws(ConcordError) {
        let sortedRoles = roles.sorted { $0.name.utf8.lexicographicallyPrecedes($1.name.utf8) }
        let sortedEntries = entries.map(Self.sorted).sorted { $0.collection.utf8.lexicographicallyPrecedes($1.collection.utf8) }
        try Self.checkUnique(sortedRoles.map(\.name), "roles")
        try Self.checkUnique(sortedEntries.map(\.collection), "collections")
        for entry in sortedEntries {
            let path = "collections.\(entry.collection)"
            if let read = entry.read { try Self.checkUnique(read, "\(path).read") }
            try Self.checkUnique(entry.grants.map(\.role), "\(path).write")
            for grant in entry.grants {
                if let patterns = grant.fields.patterns { try Self.checkUnique(patterns, "\(path).write.\(grant.role).fields") }
            }
        }
        try self.init(checkedRoles: sortedRoles, entries: sortedEntries, encrypted: encrypted)
    }

    /// The common end of every way in: the lists are sorted and free of duplicates.
    init(checkedRoles roles: [RoleDefinition], entries: [Entry], encrypted: Bool) throws(ConcordError) {
        try Self.validate(roles: roles, entries: entries, encrypted: encrypted)
        self.roles = roles
        self.entries = entries
        self.body = Self.encodeBody(roles: roles, entries: entries)
        guard body.count <= Self.maxBodyBytes else {
            throw ConcordError(
                .invalidPolicy, "policy: the body is \(body.count) bytes (at most \(Self.maxBodyBytes)); split rules or shorten names")
        }
    }

    /// The role named `name` (compared by bytes), or `nil` when the policy does not define it.
    /// - Parameters:
    ///   - name: A policy role's name.
    public func role(named name: String) -> RoleDefinition? {
        roles.first { PolicyText.same($0.name, name) }
    }

    /// The entry used for ops on `collection` (§2.2): its own entry, else the wildcard's,
    /// else `nil`. Entries never combine.
    /// - Parameters:
    ///   - collection: A collection name.
    public func entry(for collection: String) -> Entry? {
        entries.first { PolicyText.same($0.collection, collection) }
            ?? entries.first { $0.collection == Self.wildcard }
    }

    public static func == (lhs: Policy, rhs: Policy) -> Bool { lhs.body == rhs.body }

    public func hash(into hasher: inout Hasher) { hasher.combine(body) }

    // MARK: - Sorting

    private static func sorted(_ entry: Entry) -> Entry {
        var entry = entry
        entry.read = entry.read?.sorted(by: PolicyText.less)
        entry.grants = entry.grants.map { grant in
            var grant = grant
            switch grant.fields {
            case .all: break
            case .allow(let patterns): grant.fields = .allow(patterns.sorted(by: PolicyText.less))
            case .deny(let patterns): grant.fields = .deny(patterns.sorted(by: PolicyText.less))
            }
            return grant
        }
        .sorted { PolicyText.less($0.role, $1.role) }
        return entry
    }

    private static func checkUnique(_ sorted: [String], _ path: String) throws(ConcordError) {
        for (a, b) in zip(sorted, sorted.dropFirst()) where a.utf8.elementsEqual(b.utf8) {
            throw ConcordError(.invalidPolicy, "policy: \(path): \(PolicyText.quoted(a)) appears twice; name it once")
        }
    }
}

extension Policy.Fields {
    /// The patterns of an allow or deny list; `nil` for all fields.
    public var patterns: [String]? {
        switch self {
        case .all: nil
        case .allow(let patterns), .deny(let patterns): patterns
        }
    }
}

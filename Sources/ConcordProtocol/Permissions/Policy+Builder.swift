/// A Swift way to write a policy that reads like the rules it states
/// (`Specs/permissions.md` §3.4, "A Swift builder"). It builds the same ``Policy`` value as
/// the JSON form: the same checks, the same canonical ``Policy/body`` and normalized JSON.
///
/// The classroom of `Examples/policies/classroom.json`, line for line:
///
/// ```swift
/// let classroom = try Policy {
///     PolicyRole("learner", base: .writer)
///     PolicyRole("teacher", base: .writer)
///     InOtherCollections {
///         Grant("teacher", .all)
///     }
///     InCollection("results") {
///         Grant("learner", create: .own, update: .own, fields: .deny(["grade"]))
///         Grant("teacher", .all)
///     }
///     InCollection("teacher_notes", readableBy: "teacher") {
///         Grant("teacher", .all)
///     }
/// }
/// try await replica.setPolicy(classroom)
/// ```
///
/// Entries never combine (§2.2): a collection with an ``InCollection`` entry takes nothing
/// from ``InOtherCollections``, which is why the teacher's grant is repeated. `if`, `switch`
/// and `for` work inside both builders:
///
/// ```swift
/// let policy = try Policy {
///     PolicyRole("nurse", base: .writer)
///     for ward in ["ward_a", "ward_b"] {
///         InCollection(ward) { Grant("nurse", create: .any, update: .any, fields: .allow(["vitals.*"])) }
///     }
/// }
/// ```
@resultBuilder
public enum PolicyBuilder {
    /// A role definition or a collection entry, as the builder collects them.
    public enum Part: Sendable {
        /// A policy role.
        case role(Policy.RoleDefinition)
        /// A collection's entry (or the wildcard's).
        case entry(Policy.Entry)
    }

    /// A policy role line: `PolicyRole("learner", base: .writer)`.
    public static func buildExpression(_ role: Policy.RoleDefinition) -> [Part] { [.role(role)] }
    /// A collection line: `InCollection("results") { ... }`.
    public static func buildExpression(_ collection: InCollection) -> [Part] { [.entry(collection.entry)] }
    /// The wildcard line: `InOtherCollections { ... }`.
    public static func buildExpression(_ others: InOtherCollections) -> [Part] { [.entry(others.entry)] }
    /// A prepared entry: `Policy.Entry("results", grants: [...])`.
    public static func buildExpression(_ entry: Policy.Entry) -> [Part] { [.entry(entry)] }
    /// The lines, in order.
    public static func buildBlock(_ parts: [Part]...) -> [Part] { parts.flatMap { $0 } }
    /// An `if` without `else`.
    public static func buildOptional(_ parts: [Part]?) -> [Part] { parts ?? [] }
    /// The first branch of an `if`/`else` or `switch`.
    public static func buildEither(first parts: [Part]) -> [Part] { parts }
    /// The second branch of an `if`/`else` or `switch`.
    public static func buildEither(second parts: [Part]) -> [Part] { parts }
    /// A `for` loop.
    public static func buildArray(_ parts: [[Part]]) -> [Part] { parts.flatMap { $0 } }
    /// An `if #available` block.
    public static func buildLimitedAvailability(_ parts: [Part]) -> [Part] { parts }
}

/// Collects the ``Grant`` lines of an ``InCollection`` or ``InOtherCollections`` entry.
///
/// ```swift
/// InCollection("results") {
///     Grant("learner", create: .own, update: .own, fields: .deny(["grade"]))
///     if teachersMayDelete { Grant("teacher", .all) } else { Grant("teacher", create: .any, update: .any) }
/// }
/// ```
@resultBuilder
public enum GrantBuilder {
    /// One grant line.
    public static func buildExpression(_ grant: Policy.Grant) -> [Policy.Grant] { [grant] }
    /// The lines, in order.
    public static func buildBlock(_ grants: [Policy.Grant]...) -> [Policy.Grant] { grants.flatMap { $0 } }
    /// An `if` without `else`.
    public static func buildOptional(_ grants: [Policy.Grant]?) -> [Policy.Grant] { grants ?? [] }
    /// The first branch of an `if`/`else` or `switch`.
    public static func buildEither(first grants: [Policy.Grant]) -> [Policy.Grant] { grants }
    /// The second branch of an `if`/`else` or `switch`.
    public static func buildEither(second grants: [Policy.Grant]) -> [Policy.Grant] { grants }
    /// A `for` loop.
    public static func buildArray(_ grants: [[Policy.Grant]]) -> [Policy.Grant] { grants.flatMap { $0 } }
    /// An `if #available` block.
    public static func buildLimitedAvailability(_ grants: [Policy.Grant]) -> [Policy.Grant] { grants }
}

/// A policy role in a ``PolicyBuilder`` (the JSON form's `roles` member): a name and its
/// base. ``Policy/RoleDefinition`` under the name that reads well in a builder.
///
/// ```swift
/// let policy = try Policy {
///     PolicyRole("learner", base: .writer)
///     PolicyRole("parent", base: .reader)
/// }
/// ```
public typealias PolicyRole = Policy.RoleDefinition

/// What one role may write in a collection (§2.3), a line of ``InCollection`` or
/// ``InOtherCollections``. ``Policy/Grant`` under the name that reads well in a builder.
///
/// ```swift
/// Grant("learner", create: .own, update: .own, fields: .deny(["grade"]))
/// Grant("teacher", .all)
/// ```
public typealias Grant = Policy.Grant

extension Policy {
    /// Builds a policy from the lines of a ``PolicyBuilder``, with the same checks as
    /// ``init(roles:entries:encrypted:)``; see ``PolicyBuilder`` for the whole classroom.
    ///
    /// ```swift
    /// let policy = try Policy {
    ///     PolicyRole("learner", base: .writer)
    ///     InCollection("results") { Grant("learner", create: .own, update: .own) }
    /// }
    /// ```
    /// - Parameters:
    ///   - encrypted: Whether the space encrypts payloads. Only read lists depend on it
    ///     (they need an encrypted space); `Replica.setPolicy(_:)` checks the policy again
    ///     against its own space, so a policy built with the default is refused there, not
    ///     broken, when the space turns out not to be encrypted.
    ///   - lines: ``PolicyRole``, ``InCollection`` and ``InOtherCollections`` lines, in any
    ///     order.
    /// - Throws: ``ConcordError`` `.invalidPolicy` naming the broken rule, as for the JSON
    ///   form (`policy: collections.results.write: "learner" appears twice; name it once`).
    public init(encrypted: Bool = true, @PolicyBuilder _ lines: () -> [PolicyBuilder.Part]) throws(ConcordError) {
        var roles: [RoleDefinition] = []
        var entries: [Entry] = []
        for part in lines() {
            switch part {
            case .role(let role): roles.append(role)
            case .entry(let entry): entries.append(entry)
            }
        }
        try self.init(roles: roles, entries: entries, encrypted: encrypted)
    }
}

extension Policy.Grant {
    /// The shorthand JSON spells `"all"`: `Grant("teacher", .all)`.
    public enum Everything: Sendable {
        /// Create, update and delete `any` record, every field.
        case all
    }

    /// The grant JSON spells `"all"`: create, update and delete any record, every field.
    ///
    /// ```swift
    /// InOtherCollections { Grant("teacher", .all) }
    /// ```
    /// - Parameters:
    ///   - role: `writer` or a policy role of base writer.
    ///   - everything: `.all`.
    public init(_ role: String, _ everything: Everything) {
        self = .all(role)
    }

    /// A grant to a role defined in the same builder.
    ///
    /// ```swift
    /// let learner = PolicyRole("learner", base: .writer)
    /// let policy = try Policy {
    ///     learner
    ///     InCollection("results") { Grant(learner, create: .own, update: .own, fields: .deny(["grade"])) }
    /// }
    /// ```
    /// - Parameters:
    ///   - role: The role granted (its name is what the policy records).
    ///   - create: The create right; `.none` by default.
    ///   - update: The update right; `.none` by default.
    ///   - delete: The delete right; `.none` by default.
    ///   - fields: The fields it may write; all by default.
    public init(
        _ role: Policy.RoleDefinition, create: Policy.Access = .none, update: Policy.Access = .none, delete: Policy.Access = .none,
        fields: Policy.Fields = .all
    ) {
        self.init(role.name, create: create, update: update, delete: delete, fields: fields)
    }

    /// `Grant(learner, .all)` for a role defined in the same builder.
    /// - Parameters:
    ///   - role: The role granted.
    ///   - everything: `.all`.
    public init(_ role: Policy.RoleDefinition, _ everything: Everything) {
        self = .all(role.name)
    }
}

/// A collection's entry in a ``PolicyBuilder`` (§2.2): the grants of the roles that may
/// write it and, optionally, the roles that may read it.
///
/// ```swift
/// InCollection("results") {
///     Grant("learner", create: .own, update: .own, fields: .deny(["grade"]))
///     Grant("teacher", .all)
/// }
/// InCollection("teacher_notes", readableBy: "teacher") { Grant("teacher", .all) }
/// ```
public struct InCollection: Sendable {
    /// The entry it stands for.
    public let entry: Policy.Entry

    /// A collection's entry.
    /// - Parameters:
    ///   - collection: The collection's name (compared by UTF-8 bytes).
    ///   - readableBy: The roles that may read it (admins always may); none: every member
    ///     may. A read list makes the collection **scoped** (§7): it needs an encrypted space,
    ///     and every role granted here must be in it.
    ///   - grants: ``Grant`` lines, at most one per role; none: no non-admin may write it.
    public init(_ collection: String, readableBy: String..., @GrantBuilder grants: () -> [Policy.Grant] = { [] }) {
        entry = Policy.Entry(collection, read: readableBy.isEmpty ? nil : readableBy, grants: grants())
    }

    /// A collection's entry with its read list given as an array.
    ///
    /// ```swift
    /// InCollection("patients", readableBy: ["doctor", "nurse"]) { Grant("doctor", .all) }
    /// ```
    /// - Parameters:
    ///   - collection: The collection's name.
    ///   - readableBy: The roles that may read it; `nil` (not empty) for every member.
    ///   - grants: ``Grant`` lines, at most one per role.
    public init(_ collection: String, readableBy: [String]?, @GrantBuilder grants: () -> [Policy.Grant] = { [] }) {
        entry = Policy.Entry(collection, read: readableBy, grants: grants())
    }
}

/// The wildcard entry `*` in a ``PolicyBuilder`` (§2.2): the grants for every collection
/// that has no ``InCollection`` entry of its own. Entries never combine, so a collection
/// with an entry of its own takes nothing from here.
///
/// ```swift
/// InOtherCollections { Grant("teacher", .all) }
/// ```
public struct InOtherCollections: Sendable {
    /// The wildcard entry it stands for.
    public let entry: Policy.Entry

    /// The wildcard entry (it cannot have a read list).
    /// - Parameters:
    ///   - grants: ``Grant`` lines, at most one per role.
    public init(@GrantBuilder grants: () -> [Policy.Grant]) {
        entry = Policy.Entry(Policy.wildcard, grants: grants())
    }
}

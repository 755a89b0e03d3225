import ConcordCore

/// Whether one record op may be applied (`Specs/permissions.md` §6.2): allowed, or denied
/// with a reason.
///
/// ``decide(_:role:policy:section:isCreate:isOwn:)`` is a pure function of inputs every
/// replica holds alike (the governing policy, the author's role, the op, the section it
/// was sealed in, and two facts about the author's family), so every replica reaches the
/// same decision; the same function refuses a forbidden write before it is made (§6.5).
///
/// ```swift
/// let decision = PolicyDecision.decide(
///     .init(kind: .set, collection: "results", field: "grade"),
///     role: .named("learner", base: .writer), policy: .policy(classroom),
///     isCreate: false, isOwn: true)
/// // .denied: "learners may not write field `grade` of collection `results`"
/// ```
public enum PolicyDecision: Hashable, Sendable {
    /// The op is applied.
    case allowed
    /// The op is not applied anywhere.
    case denied(PolicyDenial)

    /// The policy governing the op's bundle (`G(A, k)`, §4.1), as the decision sees it.
    /// An unreadable policy (its key has not arrived) is not decided: the bundle waits
    /// (§6.4).
    public enum Governing: Sendable {
        /// No policy governs (never set, or cleared): today's behaviour (§2.6).
        case none
        /// A readable policy.
        case policy(Policy)
        /// A policy whose body does not authenticate or decode (§3.2): only admins write.
        case broken
    }

    /// The author's assignment at the bundle (`role(A, k)`, membership §5). Built-in
    /// readers never reach the decision: admission refuses their bundles.
    public enum Role: Hashable, Sendable {
        /// An admin: never denied, but its ops must be placed in their section.
        case admin
        /// The built-in writer.
        case writer
        /// A policy role: its name and the base membership knows.
        case named(String, base: Policy.Base)

        /// `admin`, `writer` or the policy role's name.
        public var name: String {
            switch self {
            case .admin: "admin"
            case .writer: "writer"
            case .named(let name, _): name
            }
        }
    }

    /// What the decision needs of a record op: its kind, collection and field.
    public struct Operation: Sendable {
        /// The kinds of record ops (`Specs/crdt-semantics.md` §5).
        public enum Kind: String, Hashable, Sendable {
            case set, add, remove, delete
        }

        /// The op's kind.
        public var kind: Kind
        /// The op's collection.
        public var collection: String
        /// The op's field; `nil` for a delete.
        public var field: String?

        /// An op.
        /// - Parameters:
        ///   - kind: `set`, `add`, `remove` or `delete`.
        ///   - collection: The collection.
        ///   - field: The field; `nil` for a delete.
        public init(kind: Kind, collection: String, field: String? = nil) {
            self.kind = kind
            self.collection = collection
            self.field = field
        }

        /// The op of a record operation.
        /// - Parameters:
        ///   - operation: A record operation.
        public init(_ operation: RecordOperation) {
            switch operation.action {
            case .set(let field, _): self.init(kind: .set, collection: operation.collection, field: field)
            case .add(let field, _): self.init(kind: .add, collection: operation.collection, field: field)
            case .remove(let field, _, _): self.init(kind: .remove, collection: operation.collection, field: field)
            case .delete: self.init(kind: .delete, collection: operation.collection)
            }
        }
    }

    /// Where the op was sealed (§7.3).
    public enum Section: Sendable {
        /// The general section, under the epoch key (every op of an unsectioned bundle).
        case general
        /// A scope section, under a key of the scope of these read roles.
        case sealed(readers: [String])
    }

    /// Decides one op (§6.2); the first failing check is the reason.
    ///
    /// ```swift
    /// let own = record.isOwned(byFamily: familyTags)
    /// switch PolicyDecision.decide(.init(op), role: role, policy: governing, isCreate: isCreate, isOwn: own) {
    /// case .allowed: state.apply(op)
    /// case .denied(let denial): denials.append(denial)
    /// }
    /// ```
    /// - Parameters:
    ///   - op: The op.
    ///   - role: `role(A, k)`: the author's assignment at the bundle.
    ///   - policy: `G(A, k)`: the governing policy.
    ///   - section: Where the op was sealed; the general section by default.
    ///   - isCreate: Whether the op is a **create** (§5.2): no earlier bundle of the
    ///     author's family holds an allowed op on this record in a section of the same
    ///     kind. Ignored for deletes.
    ///   - isOwn: Whether the record is bound to a member of the author's family (§5.1,
    ///     `RecordID.isOwned(byFamily:)`).
    /// - Returns: `.allowed`, or `.denied` with the reason and the user message.
    /// - Complexity: O(entries + grants + patterns) of the policy.
    public static func decide(
        _ op: Operation, role: Role, policy: Governing, section: Section = .general, isCreate: Bool, isOwn: Bool
    ) -> PolicyDecision {
        let c = op.collection
        func deny(_ reason: PolicyDenial.Reason, _ message: String) -> PolicyDecision {
            .denied(PolicyDenial(reason: reason, role: role.name, collection: c, field: op.field, message: message))
        }
        let readable: Policy?
        switch policy {
        case .broken:
            if role == .admin { return .allowed }
            return deny(.policyBroken, "the space's policy cannot be read; only admins may write until an admin sets it again")
        case .none: readable = nil
        case .policy(let p): readable = p
        }
        let entry = readable?.entry(for: c)
        let placed: Bool
        switch (section, entry?.read) {
        case (.general, nil): placed = true
        case (.general, _?), (.sealed, nil): placed = false
        case (.sealed(let readers), let read?): placed = sameSet(readers, read)
        }
        func misplaced() -> PolicyDecision {
            let readers = entry?.read.map { $0.map { "`\($0)`" }.joined(separator: ", ") } ?? "every member"
            return deny(.wrongSection, "ops of collection `\(c)` must be sealed for its readers (\(readers))")
        }
        let name: String
        switch role {
        case .admin: return placed ? .allowed : misplaced()
        case .writer: name = "writer"
        case .named(let n, let base):
            guard let readable, readable.role(named: n)?.base == base else {
                return deny(.roleNotInPolicy, "role `\(n)` is not in the space's policy")
            }
            name = n
        }
        guard readable != nil else { return placed ? .allowed : misplaced() }
        // Only denials need the plural: most ops are allowed (no string built for them).
        var who: String { PolicyDenial.plural(name) }
        guard let entry, let grant = entry.grant(for: name) else { return deny(.noGrant, "\(who) may not write collection `\(c)`") }
        guard placed else { return misplaced() }
        let right: Policy.Access
        let verb: Verb
        if op.kind == .delete {
            (right, verb) = (grant.delete, .delete)
        } else {
            let field = op.field ?? ""
            guard grant.fields.allows(field) else { return deny(.field, "\(who) may not write field `\(field)` of collection `\(c)`") }
            (right, verb) = isCreate ? (grant.create, .create) : (grant.update, .update)
        }
        switch right {
        case .none: return deny(verb.reason, "\(who) may not \(verb.never) collection `\(c)`")
        case .own where !isOwn: return deny(verb.notOwnReason, "\(who) may only \(verb.onlyOwn) in collection `\(c)`")
        default: return .allowed
        }
    }

    /// Whether an op of bundle `(author, sequence)` on a record is a **create** (§5.2): no
    /// earlier bundle of the author's family holds an allowed op on the record in a section
    /// of the same kind. Earlier means a bundle of a predecessor, or the author's own bundle
    /// at a lower position; siblings (other successors of a predecessor) and other devices
    /// do not count, and all ops on the record in the creating bundle are creates.
    ///
    /// ```swift
    /// // The tablet wrote the record in its bundle 3; its op in bundle 5 is an update.
    /// assert(!PolicyDecision.isCreate(author: tablet, sequence: 5, predecessors: [], writes: [(tablet, 3)]))
    /// ```
    /// - Parameters:
    ///   - author: The op's author.
    ///   - sequence: The op's bundle's position in the author's chain.
    ///   - predecessors: The author's predecessors (transitively, through applied
    ///     `successor` ops).
    ///   - writes: The bundles (device, position) holding an allowed op on the record in a
    ///     section of the same kind, by any device.
    /// - Complexity: O(writes).
    public static func isCreate(
        author: DeviceID, sequence: UInt64, predecessors: Set<DeviceID>, writes: [(device: DeviceID, sequence: UInt64)]
    ) -> Bool {
        !writes.contains { ($0.device == author && $0.sequence < sequence) || predecessors.contains($0.device) }
    }

    /// The right an op needs, with its reasons and message phrases.
    private enum Verb {
        case create, update, delete

        var reason: PolicyDenial.Reason {
            switch self {
            case .create: .create
            case .update: .update
            case .delete: .delete
            }
        }

        var notOwnReason: PolicyDenial.Reason {
            switch self {
            case .create: .createNotOwn
            case .update: .updateNotOwn
            case .delete: .deleteNotOwn
            }
        }

        /// "Rs may not … collection `C`".
        var never: String {
            switch self {
            case .create: "create records in"
            case .update: "change records of"
            case .delete: "delete records of"
            }
        }

        /// "Rs may only … in collection `C`".
        var onlyOwn: String {
            switch self {
            case .create: "create their own records"
            case .update: "change records they created"
            case .delete: "delete records they created"
            }
        }
    }

    /// Whether a section's read roles are exactly the entry's read list (sorted by UTF-8
    /// bytes; a scope's role set has no repeats).
    private static func sameSet(_ a: [String], _ b: [String]) -> Bool {
        let (x, y) = (a.sorted(by: PolicyText.less), b.sorted(by: PolicyText.less))
        return x.count == y.count && zip(x, y).allSatisfy { $0.utf8.elementsEqual($1.utf8) }
    }
}

extension Policy.Fields {
    /// Whether a `set`, `add` or `remove` op may name `field` (§2.3).
    /// - Parameters:
    ///   - field: The op's field.
    public func allows(_ field: String) -> Bool {
        switch self {
        case .all: true
        case .allow(let patterns): patterns.contains { Self.matches($0, field) }
        case .deny(let patterns): !patterns.contains { Self.matches($0, field) }
        }
    }

    /// Whether `pattern` matches `field` (§2.3), by UTF-8 bytes: equal, or `name.*` and the
    /// field is `name` or starts with `name.`.
    /// - Parameters:
    ///   - pattern: A field pattern.
    ///   - field: A field name.
    public static func matches(_ pattern: String, _ field: String) -> Bool {
        // On contiguous UTF-8 buffers, without copying: every op of a grant with a field
        // list runs this once per pattern.
        var (pattern, field) = (pattern, field)
        return pattern.withUTF8 { p in
            field.withUTF8 { f in
                if p.count == f.count && p.elementsEqual(f) { return true }
                guard p.count >= 2, p[p.count - 1] == UInt8(ascii: "*"), p[p.count - 2] == UInt8(ascii: ".") else { return false }
                // `name.*`: the field is `name`, or starts with `name.`.
                let n = p.count - 2
                guard f.count == n || (f.count >= n + 1 && f[n] == UInt8(ascii: ".")) else { return false }
                return f[0..<n].elementsEqual(p[0..<n])
            }
        }
    }
}

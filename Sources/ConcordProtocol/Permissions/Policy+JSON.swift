/// The JSON form users write (`Specs/permissions.md` §3.4) and the normalized JSON
/// `concord policy show --json` prints.
extension Policy {
    /// Reads a policy file (§3.4): one UTF-8 JSON object with `concord_policy` (the integer
    /// 1), `roles` and `collections`. Unknown keys, duplicate keys, wrong types, invalid
    /// names or patterns and every rule of §3.3 are errors naming the JSON path.
    ///
    /// ```swift
    /// let text = """
    ///     {"concord_policy": 1, "roles": {"learner": {"base": "writer"}},
    ///      "collections": {"results": {"write": {"learner": {"create": "own", "update": "own",
    ///                                                        "fields": {"deny": ["grade"]}}}}}}
    ///     """
    /// let policy = try Policy(json: text, encrypted: true)
    /// ```
    /// - Parameters:
    ///   - json: The file's text.
    ///   - encrypted: Whether the space encrypts payloads (read lists need it).
    /// - Throws: ``ConcordError`` `.invalidPolicy`, for example
    ///   `policy: collections.results.write.learner.update: "mine" is not none, own or any`.
    public init(json: String, encrypted: Bool) throws(ConcordError) {
        try self.init(jsonBytes: Array(json.utf8), encrypted: encrypted)
    }

    /// Reads a policy file given as bytes; see ``init(json:encrypted:)``.
    /// - Parameters:
    ///   - jsonBytes: The file's bytes: UTF-8 (invalid UTF-8 is an error, never replaced).
    ///   - encrypted: Whether the space encrypts payloads.
    /// - Throws: ``ConcordError`` `.invalidPolicy`.
    public init(jsonBytes: [UInt8], encrypted: Bool) throws(ConcordError) {
        let document = try PolicyJSON.parse(jsonBytes)
        let top = try Self.members(document, "", allowed: ["collections", "concord_policy", "roles"])
        guard case .number("1")? = top["concord_policy"] else {
            throw Self.invalid("concord_policy", "must be the integer 1 (the policy format)")
        }
        var roles: [RoleDefinition] = []
        for (name, spec) in try Self.members(top["roles"] ?? .object([]), "roles", allowed: nil).ordered {
            if let problem = Self.roleNameProblem(name) { throw Self.invalid("roles.\(name)", problem) }
            let fields = try Self.members(spec, "roles.\(name)", allowed: ["base"])
            switch fields["base"] {
            case .string("writer")?: roles.append(RoleDefinition(name, base: .writer))
            case .string("reader")?: roles.append(RoleDefinition(name, base: .reader))
            default: throw Self.invalid("roles.\(name).base", "must be \"writer\" or \"reader\"")
            }
        }
        var entries: [Entry] = []
        for (collection, spec) in try Self.members(top["collections"] ?? .object([]), "collections", allowed: nil).ordered {
            let path = "collections.\(collection)"
            let fields = try Self.members(spec, path, allowed: ["read", "write"])
            var read: [String]?
            if let list = fields["read"] { read = try Self.stringSet(list, "\(path).read") }
            var grants: [Grant] = []
            for (role, grant) in try Self.members(fields["write"] ?? .object([]), "\(path).write", allowed: nil).ordered {
                grants.append(try Self.grant(role, grant, "\(path).write.\(role)"))
            }
            entries.append(Entry(collection, read: read, grants: grants))
        }
        try self.init(roles: roles, entries: entries, encrypted: encrypted)
    }

    private static func grant(_ role: String, _ value: PolicyJSON, _ path: String) throws(ConcordError) -> Grant {
        if case .string("all") = value { return .all(role) }
        let fields = try members(value, path, allowed: ["create", "delete", "fields", "update"])
        func access(_ key: String) throws(ConcordError) -> Access {
            switch fields[key] {
            case nil, .string("none")?: return .none
            case .string("own")?: return .own
            case .string("any")?: return .any
            case .string(let other)?: throw invalid("\(path).\(key)", "\(PolicyText.quoted(other)) is not none, own or any")
            case let other?: throw invalid("\(path).\(key)", "\(other.typeName) is not none, own or any")
            }
        }
        var grant = Grant(role, create: try access("create"), update: try access("update"), delete: try access("delete"))
        if let spec = fields["fields"] {
            let lists = try members(spec, "\(path).fields", allowed: ["allow", "deny"])
            guard lists.ordered.count == 1, let (mode, list) = lists.ordered.first else {
                throw invalid("\(path).fields", "holds exactly one of allow and deny")
            }
            let patterns = try stringSet(list, "\(path).fields.\(mode)")
            for pattern in patterns {
                if let problem = patternProblem(pattern) { throw invalid("\(path).fields.\(mode)", problem) }
            }
            grant.fields = mode == "allow" ? .allow(patterns) : .deny(patterns)
        }
        return grant
    }

    /// An object's members, checked against `allowed` keys (`nil`: any key).
    private static func members(_ value: PolicyJSON, _ path: String, allowed: Set<String>?) throws(ConcordError) -> Members {
        guard case .object(let members) = value else { throw invalid(path, "must be an object, not \(value.typeName)") }
        if let allowed {
            // The allowed keys are ASCII, so String equality is byte equality here.
            for (key, _) in members where !allowed.contains(key) || !key.utf8.allSatisfy({ $0 < 0x80 }) {
                throw invalid(path, "unknown key \(PolicyText.quoted(key)) (known: \(allowed.sorted().joined(separator: ", ")))")
            }
        }
        return Members(ordered: members)
    }

    /// A non-empty list of distinct strings, sorted by their UTF-8 bytes.
    private static func stringSet(_ value: PolicyJSON, _ path: String) throws(ConcordError) -> [String] {
        guard case .array(let elements) = value, !elements.isEmpty else { throw invalid(path, "must be a non-empty list") }
        var strings: [String] = []
        for element in elements {
            guard case .string(let s) = element else { throw invalid(path, "\(element.typeName) is not a name") }
            strings.append(s)
        }
        strings.sort(by: PolicyText.less)
        for (a, b) in zip(strings, strings.dropFirst()) where a.utf8.elementsEqual(b.utf8) {
            throw invalid(path, "\(PolicyText.quoted(a)) appears twice")
        }
        return strings
    }

    private struct Members {
        let ordered: [(key: String, value: PolicyJSON)]

        /// The member named `key` (an ASCII key, so String equality is byte equality).
        subscript(key: String) -> PolicyJSON? { ordered.first { $0.key == key }?.value }
    }

    // MARK: - Normalized JSON

    /// The normalized JSON of the policy (§3.4): keys sorted by their UTF-8 bytes, one
    /// member or element per line, two spaces per level, `": "` after keys, one line feed
    /// at the end; `"all"` for grants that allow everything; defaults spelled out. Reading
    /// it back gives the same policy, and a normalized file prints byte for byte.
    ///
    /// ```swift
    /// let policy = try Policy(json: classroomFile, encrypted: true)
    /// assert(policy.normalizedJSON == classroomFile)   // the example file is normalized
    /// ```
    public var normalizedJSON: String {
        var out = ""
        var roleMembers: [(String, Node)] = []
        for role in roles { roleMembers.append((role.name, .object([("base", .string(role.base.description))]))) }
        var collections: [(String, Node)] = []
        for entry in entries {
            var members: [(String, Node)] = []
            if let read = entry.read { members.append(("read", .array(read.map(Node.string)))) }
            members.append(("write", .object(entry.grants.map { ($0.role, Self.node($0)) })))
            collections.append((entry.collection, .object(members)))
        }
        let document = Node.object([
            ("collections", .object(collections)), ("concord_policy", .number(1)), ("roles", .object(roleMembers)),
        ])
        document.write(to: &out, level: 0)
        return out + "\n"
    }

    /// The normalized JSON as UTF-8 bytes (what `concord policy show --json` writes).
    public func jsonData() -> [UInt8] { Array(normalizedJSON.utf8) }

    private static func node(_ grant: Grant) -> Node {
        if grant.isAll { return .string("all") }
        var members: [(String, Node)] = [
            ("create", .string(grant.create.description)), ("delete", .string(grant.delete.description)),
        ]
        switch grant.fields {
        case .all: break
        case .allow(let patterns): members.append(("fields", .object([("allow", .array(patterns.map(Node.string)))])))
        case .deny(let patterns): members.append(("fields", .object([("deny", .array(patterns.map(Node.string)))])))
        }
        members.append(("update", .string(grant.update.description)))
        return .object(members)
    }

    /// A JSON value to print; objects are sorted by key bytes when written.
    private indirect enum Node {
        case object([(String, Node)])
        case array([Node])
        case string(String)
        case number(Int)

        func write(to out: inout String, level: Int) {
            let inner = String(repeating: "  ", count: level + 1)
            switch self {
            case .object(let members) where members.isEmpty: out += "{}"
            case .array(let elements) where elements.isEmpty: out += "[]"
            case .object(let members):
                out += "{\n"
                for (i, (key, value)) in members.sorted(by: { PolicyText.less($0.0, $1.0) }).enumerated() {
                    out += inner + PolicyText.quoted(key) + ": "
                    value.write(to: &out, level: level + 1)
                    out += i == members.count - 1 ? "\n" : ",\n"
                }
                out += String(repeating: "  ", count: level) + "}"
            case .array(let elements):
                out += "[\n"
                for (i, value) in elements.enumerated() {
                    out += inner
                    value.write(to: &out, level: level + 1)
                    out += i == elements.count - 1 ? "\n" : ",\n"
                }
                out += String(repeating: "  ", count: level) + "]"
            case .string(let s): out += PolicyText.quoted(s)
            case .number(let n): out += String(n)
            }
        }
    }
}

/// The rules of `Specs/permissions.md` §3.3 that the JSON reader, the body decoder and
/// ``Policy/init(roles:entries:encrypted:)`` share, so that all three accept exactly the
/// same policies.
extension Policy {
    /// Checks the semantic rules on sorted, duplicate-free lists.
    static func validate(roles: [RoleDefinition], entries: [Entry], encrypted: Bool) throws(ConcordError) {
        guard roles.count <= maxRoles else { throw invalid("roles", "\(roles.count) roles (at most \(maxRoles))") }
        guard entries.count <= maxEntries else {
            throw invalid("collections", "\(entries.count) entries (at most \(maxEntries), the wildcard included)")
        }
        for role in roles {
            if let problem = roleNameProblem(role.name) { throw invalid("roles.\(role.name)", problem) }
        }
        func base(_ ref: String) -> Base? {
            if ref == "writer" { return .writer }
            if ref == "reader" { return .reader }
            return roles.first { $0.name.utf8.elementsEqual(ref.utf8) }?.base
        }
        for entry in entries {
            let path = "collections.\(entry.collection)"
            if let problem = nameProblem(entry.collection, "a collection name") { throw invalid(path, problem) }
            if let read = entry.read {
                guard entry.collection != wildcard else {
                    throw invalid("\(path).read", "the wildcard entry cannot have a read list; give the collection an entry of its own")
                }
                guard encrypted else {
                    throw invalid("\(path).read", "read lists need an encrypted space (in this space every member can read every op)")
                }
                guard (1...maxRoles + 2).contains(read.count) else {
                    throw invalid("\(path).read", "a read list holds 1 to \(maxRoles + 2) roles, not \(read.count)")
                }
                for ref in read where base(ref) == nil { throw invalid("\(path).read", "role \(PolicyText.quoted(ref)) is not defined") }
            }
            guard entry.grants.count <= maxRoles + 1 else {
                throw invalid("\(path).write", "\(entry.grants.count) grants (at most \(maxRoles + 1))")
            }
            for grant in entry.grants {
                let grantPath = "\(path).write.\(grant.role)"
                guard let roleBase = base(grant.role) else {
                    throw invalid(grantPath, "role \(PolicyText.quoted(grant.role)) is not defined; define it under roles")
                }
                guard roleBase == .writer else {
                    throw invalid(grantPath, "role \(PolicyText.quoted(grant.role)) has base reader and cannot be granted writes")
                }
                if let read = entry.read, !read.contains(where: { $0.utf8.elementsEqual(grant.role.utf8) }) {
                    throw invalid(
                        grantPath, "role \(PolicyText.quoted(grant.role)) may write a scoped collection it may not read; add it to read")
                }
                guard grant.create != .none || grant.update != .none || grant.delete != .none else {
                    throw invalid(grantPath, "a grant that allows nothing; leave the role out")
                }
                if let patterns = grant.fields.patterns {
                    guard (1...maxPatterns).contains(patterns.count) else {
                        throw invalid("\(grantPath).fields", "1 to \(maxPatterns) patterns, not \(patterns.count)")
                    }
                    for pattern in patterns {
                        if let problem = patternProblem(pattern) { throw invalid("\(grantPath).fields", problem) }
                    }
                }
            }
        }
    }

    /// Why `name` is not a policy role name (§2.1), or `nil` when it is one.
    static func roleNameProblem(_ name: String) -> String? {
        let bytes = Array(name.utf8)
        let valid =
            (1...maxRoleNameBytes).contains(bytes.count) && (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(bytes[0])
            && bytes.dropFirst().allSatisfy { byte in
                (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
                    || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "-")
            }
            && !["admin", "writer", "reader"].contains(name)
        guard !valid else { return nil }
        return
            "\(PolicyText.quoted(name)) is not a role name (1 to \(maxRoleNameBytes) bytes: a-z first, then a-z 0-9 _ -; not admin, writer or reader)"
    }

    /// Why `name` is not a collection name or field pattern: 1 to 255 bytes of UTF-8
    /// without control characters (Unicode category Cc).
    static func nameProblem(_ name: String, _ what: String) -> String? {
        let count = name.utf8.count
        guard (1...maxNameBytes).contains(count) else {
            return "\(PolicyText.quoted(name)) is not \(what) (1 to \(maxNameBytes) bytes, not \(count))"
        }
        if let bad = name.unicodeScalars.first(where: { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) }) {
            return
                "\(PolicyText.quoted(name)) is not \(what) (it holds the control character U+\(String(bad.value, radix: 16, uppercase: true)))"
        }
        return nil
    }

    /// Why `pattern` is not a field pattern (§2.3): a name, or a name followed by `.*`
    /// (so `.*` alone is not one).
    static func patternProblem(_ pattern: String) -> String? {
        if pattern == ".*" { return "\".*\" is not a field pattern (write a field name before .*)" }
        return nameProblem(pattern, "a field pattern")
    }

    static func invalid(_ path: String, _ message: String) -> ConcordError {
        ConcordError(.invalidPolicy, "policy: \(path.isEmpty ? "" : "\(path): ")\(message)")
    }
}

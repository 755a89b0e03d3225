import ConcordCore

/// The canonical binary body (`Specs/permissions.md` §3.3, format 1): the bytes a
/// `set-policy` op carries, one body per policy.
extension Policy {
    /// Decodes a body, checking every rule of §3.3: the version, counts (against their
    /// ranges and the bytes left, before allocating), role and flag bytes, strictly
    /// increasing lists, names and patterns, the semantic rules, and no trailing bytes. A
    /// body that fails makes its policy **broken** (§3.2).
    ///
    /// ```swift
    /// let policy = try Policy(body: setPolicy.body, encrypted: space.isEncrypted)
    /// ```
    /// - Parameters:
    ///   - body: The body bytes.
    ///   - encrypted: Whether the space encrypts payloads (read lists need it).
    /// - Throws: ``ConcordError`` `.invalidPolicy` naming the broken rule and the byte offset.
    public init(body: [UInt8], encrypted: Bool) throws(ConcordError) {
        guard body.count <= Self.maxBodyBytes else {
            throw Self.invalid("body", "\(body.count) bytes (at most \(Self.maxBodyBytes))")
        }
        var r = ByteReader(body)
        let (roles, entries): ([RoleDefinition], [Entry])
        do {
            (roles, entries) = try Self.decodeParts(&r)
        } catch let error as ConcordError {
            throw error
        } catch let error as ConcordCoreError {
            throw Self.invalid("body", error.message)
        } catch {
            throw Self.invalid("body", "\(error)")
        }
        try self.init(checkedRoles: roles, entries: entries, encrypted: encrypted)
    }

    private static func decodeParts(_ r: inout ByteReader) throws -> ([RoleDefinition], [Entry]) {
        let version = try r.readByte()
        guard version == bodyVersion else {
            throw invalid("body", "format \(version) is not known (this version of Concord reads format \(bodyVersion)); update Concord")
        }
        var roles: [RoleDefinition] = []
        for _ in 0..<(try count(&r, 0...maxRoles, minimumItemSize: 3, "role")) {
            let name = try r.readString()
            let byte = try r.readByte()
            guard let base = Base(rawValue: byte) else {
                throw r.error("role \(PolicyText.quoted(name)) has base byte \(byte) (02 writer, 03 reader)")
            }
            roles.append(RoleDefinition(name, base: base))
        }
        try increasing(roles.map(\.name), "role names", r)
        var entries: [Entry] = []
        for _ in 0..<(try count(&r, 0...maxEntries, minimumItemSize: 3, "entry")) {
            entries.append(try decodeEntry(&r))
        }
        try increasing(entries.map(\.collection), "collections", r)
        guard r.isAtEnd else { throw r.error("\(r.remaining) trailing bytes after the last entry") }
        return (roles, entries)
    }

    private static func decodeEntry(_ r: inout ByteReader) throws -> Entry {
        let collection = try r.readString()
        let flags = try r.readByte()
        guard flags & ~1 == 0 else { throw r.error("entry \(PolicyText.quoted(collection)) has reserved flag bits \(flags)") }
        var read: [String]?
        if flags & 1 != 0 {
            var refs: [String] = []
            for _ in 0..<(try count(&r, 1...maxRoles + 2, minimumItemSize: 1, "read list")) { refs.append(try r.readString()) }
            try increasing(refs, "read list of \(PolicyText.quoted(collection))", r)
            read = refs
        }
        var grants: [Grant] = []
        for _ in 0..<(try count(&r, 0...maxRoles + 1, minimumItemSize: 5, "grant")) {
            let role = try r.readString()
            var rights: [Access] = []
            for _ in 0..<3 {
                let byte = try r.readByte()
                guard let access = Access(rawValue: byte) else {
                    throw r.error("grant to \(PolicyText.quoted(role)) has right byte \(byte) (00 to 02)")
                }
                rights.append(access)
            }
            let mode = try r.readByte()
            let fields: Fields
            switch mode {
            case 0: fields = .all
            case 1, 2:
                var patterns: [String] = []
                for _ in 0..<(try count(&r, 1...maxPatterns, minimumItemSize: 1, "pattern")) { patterns.append(try r.readString()) }
                try increasing(patterns, "patterns of \(PolicyText.quoted(role))", r)
                fields = mode == 1 ? .allow(patterns) : .deny(patterns)
            default: throw r.error("grant to \(PolicyText.quoted(role)) has field mode \(mode) (00 all, 01 allow, 02 deny)")
            }
            grants.append(Grant(role, create: rights[0], update: rights[1], delete: rights[2], fields: fields))
        }
        try increasing(grants.map(\.role), "grants of \(PolicyText.quoted(collection))", r)
        return Entry(collection, read: read, grants: grants)
    }

    /// Reads a count and checks it against `range` and the bytes left.
    private static func count(_ r: inout ByteReader, _ range: ClosedRange<Int>, minimumItemSize: Int, _ what: String) throws -> Int {
        let start = r.offset
        let n = try r.readVarint()
        guard n <= UInt64(range.upperBound), range.contains(Int(n)), Int(n) * minimumItemSize <= r.remaining else {
            throw invalid(
                "body",
                "\(what) count \(n) at byte \(start) is out of range (\(range.lowerBound) to \(range.upperBound), and the bytes left)")
        }
        return Int(n)
    }

    private static func increasing(_ names: [String], _ what: String, _ r: ByteReader) throws {
        for (a, b) in zip(names, names.dropFirst()) where !PolicyText.less(a, b) {
            throw r.error("\(what) are not strictly increasing (\(PolicyText.quoted(a)) before \(PolicyText.quoted(b)))")
        }
    }

    /// Writes the body of sorted, checked lists.
    static func encodeBody(roles: [RoleDefinition], entries: [Entry]) -> [UInt8] {
        var w = ByteWriter(capacity: 256)
        w.write(bodyVersion)
        w.writeVarint(UInt64(roles.count))
        for role in roles {
            w.writeString(role.name)
            w.write(role.base.rawValue)
        }
        w.writeVarint(UInt64(entries.count))
        for entry in entries {
            w.writeString(entry.collection)
            w.write(entry.read == nil ? 0 : 1)
            if let read = entry.read {
                w.writeVarint(UInt64(read.count))
                for ref in read { w.writeString(ref) }
            }
            w.writeVarint(UInt64(entry.grants.count))
            for grant in entry.grants {
                w.writeString(grant.role)
                w.write(grant.create.rawValue)
                w.write(grant.update.rawValue)
                w.write(grant.delete.rawValue)
                switch grant.fields {
                case .all: w.write(0)
                case .allow: w.write(1)
                case .deny: w.write(2)
                }
                if let patterns = grant.fields.patterns {
                    w.writeVarint(UInt64(patterns.count))
                    for pattern in patterns { w.writeString(pattern) }
                }
            }
        }
        return w.bytes
    }
}

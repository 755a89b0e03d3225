/// The policy as sentences, for people (`Specs/permissions.md` §3.4: `concord policy show`).
extension Policy {
    /// The rules in English, one sentence a line: the roles, then one sentence per grant,
    /// entry by entry in byte order (the wildcard where `*` sorts), then what nobody
    /// granted may do. Names are printed as they are, in backquotes; roles in the plural
    /// as in denial messages (``PolicyDenial/plural(_:)``).
    ///
    /// ```swift
    /// for line in classroom.sentences { print(line) }
    /// // roles: `learner` (base writer), `teacher` (base writer)
    /// // admins may do everything
    /// // in every collection without rules of its own, teachers may write everything
    /// // in `results`, learners may create records bound to themselves, change only those, and write every field but `grade`; they may not delete records
    /// // ...
    /// ```
    public var sentences: [String] {
        var lines: [String] = []
        if roles.isEmpty {
            lines.append("roles: only the built-in ones (admin, writer, reader)")
        } else {
            lines.append("roles: " + roles.map { "`\($0.name)` (base \($0.base))" }.joined(separator: ", "))
        }
        lines.append("admins may do everything")
        for entry in entries {
            var place = entry.collection == Self.wildcard ? "every collection without rules of its own" : "`\(entry.collection)`"
            if let read = entry.read {
                place += " (readable only by " + Self.list(read.map(PolicyDenial.plural) + ["admins"], and: "and") + ")"
            }
            if entry.grants.isEmpty { lines.append("in \(place), only admins may write") }
            for grant in entry.grants { lines.append("in \(place), " + Self.sentence(grant)) }
        }
        if !entries.contains(where: { $0.collection == Self.wildcard }) {
            lines.append("in every other collection, only admins may write")
        }
        lines.append("a role without a grant in a collection may not write it (the built-in writer too); readers only read")
        return lines
    }

    /// One grant as a sentence: `learners may create records bound to themselves, change
    /// only those, and write every field but `grade`; they may not delete records`.
    static func sentence(_ grant: Grant) -> String {
        let who = PolicyDenial.plural(grant.role)
        if grant.isAll { return "\(who) may write everything" }
        var may: [String] = []
        var mayNot: [String] = []
        switch grant.create {
        case .any: may.append("create records")
        case .own: may.append("create records bound to themselves")
        case .none: mayNot.append("create records")
        }
        switch grant.update {
        case .any: may.append("change any record")
        case .own: may.append(grant.create == .own ? "change only those" : "change only the records they created")
        case .none: mayNot.append("change records")
        }
        switch grant.delete {
        case .any: may.append("delete any record")
        case .own: may.append("delete only the records they created")
        case .none: mayNot.append("delete records")
        }
        switch grant.fields {
        case .all: break
        case .deny(let patterns): may.append("write every field but " + list(patterns.map { "`\($0)`" }, and: "or"))
        case .allow(let patterns): may.append("write only the fields " + list(patterns.map { "`\($0)`" }, and: "and"))
        }
        var text = "\(who) may " + list(may, and: "and")
        if !mayNot.isEmpty { text += "; they may not " + list(mayNot, and: "or") }
        return text
    }

    /// `a`, `a and b`, `a, b, and c`.
    static func list(_ items: [String], and word: String) -> String {
        switch items.count {
        case 0: return ""
        case 1: return items[0]
        case 2: return "\(items[0]) \(word) \(items[1])"
        default: return items.dropLast().joined(separator: ", ") + ", \(word) " + items.last!
        }
    }
}

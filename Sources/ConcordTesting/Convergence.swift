import ConcordCore

/// Thrown by ``expectConverged(_:seed:)`` when replicas hold different states.
///
/// Its description names the seed to reproduce the case and the first differences
/// between the first replica and the first replica that disagrees with it.
public struct ConvergenceFailure: Error, CustomStringConvertible, Sendable {
    /// The seed of the failing case, when known.
    public let seed: UInt64?
    /// Which replicas disagree (indexes into the array passed in).
    public let replicas: (Int, Int)
    /// Human-readable differences, at most a handful.
    public let differences: [String]

    public var description: String {
        var text = "replicas \(replicas.0) and \(replicas.1) did not converge"
        if let seed { text += " (seed \(seed); reproduce with CONCORD_SEED=\(seed))" }
        return text + ":\n" + differences.map { "  - " + $0 }.joined(separator: "\n")
    }
}

/// Checks that every state is identical to the first, both as visible data and as full
/// CRDT state (stamps and tombstones included).
///
/// Framework-neutral: call it with `try` inside a Swift Testing `@Test` or an XCTest
/// method; a thrown ``ConvergenceFailure`` fails the test with the seed and a minimal diff.
///
/// ```swift
/// @Test func myMergeConverges() throws {
///     var rng = SeededGenerator(seed: 1234)
///     let history = History.generate(replicas: 3, steps: 50, using: &rng)
///     var a = ReplicaState(), b = ReplicaState()
///     a.apply(contentsOf: history.operations)
///     b.apply(contentsOf: history.operations.reversed())
///     try expectConverged([a, b], seed: 1234)
/// }
/// ```
/// - Throws: ``ConvergenceFailure``.
public func expectConverged(_ states: [ReplicaState], seed: UInt64? = nil) throws {
    guard let first = states.first else { return }
    for (index, state) in states.enumerated().dropFirst() where state != first {
        throw ConvergenceFailure(seed: seed, replicas: (0, index), differences: StateDiff.differences(first, state))
    }
}

/// Computes a minimal, readable diff between two replica states.
public enum StateDiff {
    /// Up to `limit` differences between `a` and `b`, visible data first, then metadata.
    public static func differences(_ a: ReplicaState, _ b: ReplicaState, limit: Int = 5) -> [String] {
        var out = [String]()
        let names = Set(a.collectionNames + b.collectionNames).sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        for name in names {
            let left = Dictionary(uniqueKeysWithValues: a.records(in: name).map { ($0.id, $0) })
            let right = Dictionary(uniqueKeysWithValues: b.records(in: name).map { ($0.id, $0) })
            for id in Set(left.keys).union(right.keys).sorted() where left[id] != right[id] {
                let where_ = "\(name)/\(id.uuidString.prefix(8))"
                switch (left[id], right[id]) {
                case let (l?, r?): out.append(contentsOf: fieldDifferences(where_, l, r))
                case let (l?, nil): out.append("\(where_): present in first (\(l)), absent in second")
                case let (nil, r?): out.append("\(where_): absent in first, present in second (\(r))")
                default: break
                }
                if out.count >= limit { return Array(out.prefix(limit)) }
            }
        }
        if out.isEmpty && a != b {
            out.append("visible data is identical but internal CRDT metadata (stamps, tombstones, deletes) differs")
        }
        return out
    }

    private static func fieldDifferences(_ where_: String, _ l: RecordView, _ r: RecordView) -> [String] {
        var out = [String]()
        let fieldNames = Set(l.fields.map(\.name.utf8).map(Array.init) + r.fields.map(\.name.utf8).map(Array.init)).sorted { $0.lexicographicallyPrecedes($1) }
        for bytes in fieldNames {
            let name = String(decoding: bytes, as: UTF8.self)
            if l[name] != r[name] {
                out.append("\(where_).\(name): \(l[name]?.description ?? "absent") vs \(r[name]?.description ?? "absent")")
            }
        }
        let setNames = Set(l.sets.map(\.name.utf8).map(Array.init) + r.sets.map(\.name.utf8).map(Array.init)).sorted { $0.lexicographicallyPrecedes($1) }
        for bytes in setNames {
            let name = String(decoding: bytes, as: UTF8.self)
            if l.members(of: name) != r.members(of: name) {
                let show = { (v: [Value]) in "{" + v.map(\.description).joined(separator: ", ") + "}" }
                out.append("\(where_).\(name): \(show(l.members(of: name))) vs \(show(r.members(of: name)))")
            }
        }
        return out
    }
}

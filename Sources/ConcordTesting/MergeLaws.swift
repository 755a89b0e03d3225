import ConcordCore

/// A state-based CRDT: something with a merge (join) operation.
public protocol Mergeable: Equatable {
    /// Merges `other` into `self`.
    mutating func merge(_ other: Self)
}

extension ReplicaState: Mergeable {}
extension LWWRegister: Mergeable {}
extension ORSet: Mergeable {}

/// Thrown when a merge law does not hold.
public struct MergeLawViolation: Error, CustomStringConvertible, Sendable {
    /// Which law: "commutative", "associative" or "idempotent".
    public let law: String
    /// Details.
    public let detail: String
    public var description: String { "merge is not \(law): \(detail)" }

    /// A violation of `law`, explained by `detail`.
    public init(law: String, detail: String) {
        self.law = law
        self.detail = detail
    }
}

/// A general property failure with a message; throw it from a ``PropertyRunner`` body.
public struct PropertyViolation: Error, CustomStringConvertible, Sendable {
    public let description: String
    /// A failure described by `message`.
    public init(_ message: String) { description = message }
}

/// Checks the join-semilattice laws on concrete states.
///
/// ```swift
/// try MergeLaws.check(a, b, c)   // commutative, associative, idempotent
/// ```
public enum MergeLaws {
    /// Checks `a ⊔ b == b ⊔ a`, `(a ⊔ b) ⊔ c == a ⊔ (b ⊔ c)` and `a ⊔ a == a`.
    /// - Throws: ``MergeLawViolation``.
    public static func check<T: Mergeable>(_ a: T, _ b: T, _ c: T) throws {
        if merged(a, b) != merged(b, a) {
            throw MergeLawViolation(law: "commutative", detail: "a ⊔ b != b ⊔ a\(diff(merged(a, b), merged(b, a)))")
        }
        if merged(merged(a, b), c) != merged(a, merged(b, c)) {
            throw MergeLawViolation(law: "associative", detail: "(a ⊔ b) ⊔ c != a ⊔ (b ⊔ c)\(diff(merged(merged(a, b), c), merged(a, merged(b, c))))")
        }
        if merged(a, a) != a {
            throw MergeLawViolation(law: "idempotent", detail: "a ⊔ a != a\(diff(merged(a, a), a))")
        }
    }

    /// `a` merged with `b`.
    public static func merged<T: Mergeable>(_ a: T, _ b: T) -> T {
        var result = a
        result.merge(b)
        return result
    }

    private static func diff<T>(_ x: T, _ y: T) -> String {
        guard let x = x as? ReplicaState, let y = y as? ReplicaState else { return "" }
        return "\n  " + StateDiff.differences(x, y).joined(separator: "\n  ")
    }
}

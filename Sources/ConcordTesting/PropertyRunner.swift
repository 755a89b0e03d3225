#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Runs a property over many seeded cases and reports the seed of the first failure.
///
/// Environment:
/// - `CONCORD_SEED=N` runs only seed N (to reproduce a failure);
/// - `CONCORD_SOAK=1` runs 50 times as many cases from a fresh random base seed (printed);
///   `CONCORD_SOAK=K` for K > 1 multiplies by K.
///
/// ```swift
/// @Test func applyIsOrderInsensitive() throws {
///     try PropertyRunner.check("apply order-insensitive", cases: 1000) { rng in
///         let history = History.generate(replicas: 3, steps: 30, using: &rng)
///         var a = ReplicaState(), b = ReplicaState()
///         a.apply(contentsOf: history.operations)
///         b.apply(contentsOf: history.operations.shuffled(using: &rng))
///         try expectConverged([a, b], seed: rng.seed)
///     }
/// }
/// ```
public enum PropertyRunner {
    /// The default base seed of the fixed CI seed list: case i uses `base + i`.
    public static let defaultBaseSeed: UInt64 = 0xC0C0_2D00

    /// Checks `property` for `cases` seeds.
    /// - Parameters:
    ///   - name: printed with the result.
    ///   - cases: cases in a normal run (CI): seeds `baseSeed`, `baseSeed + 1`, ...
    ///   - baseSeed: the first seed.
    ///   - property: receives a generator seeded for the case; throws to fail.
    /// - Throws: ``PropertyFailure`` naming the seed.
    public static func check(
        _ name: String, cases: Int = 1000, baseSeed: UInt64 = defaultBaseSeed,
        _ property: (inout SeededGenerator) throws -> Void
    ) throws {
        let environment = ProcessEnvironment()
        var seeds: [UInt64]
        if let seed = environment.seed {
            seeds = [seed]
        } else if let soak = environment.soakMultiplier {
            var system = SystemRandomNumberGenerator()
            let base = system.next()
            print("property \(name): soak run, \(cases * soak) cases from base seed \(base)")
            seeds = (0..<(cases * soak)).map { base &+ UInt64($0) }
        } else {
            seeds = (0..<cases).map { baseSeed &+ UInt64($0) }
        }
        for seed in seeds {
            var rng = SeededGenerator(seed: seed)
            do {
                try property(&rng)
            } catch {
                print("property \(name): FAILED for seed \(seed); reproduce with CONCORD_SEED=\(seed)\n\(error)")
                throw PropertyFailure(property: name, seed: seed, underlying: "\(error)")
            }
        }
        print("property \(name): \(seeds.count) cases passed (seeds \(seeds.first ?? 0)...\(seeds.last ?? 0))")
    }
}

/// A property failed for a seed.
public struct PropertyFailure: Error, CustomStringConvertible, Sendable {
    public let property: String
    public let seed: UInt64
    public let underlying: String
    public var description: String {
        "property \"\(property)\" failed for seed \(seed) (reproduce with CONCORD_SEED=\(seed)): \(underlying)"
    }
}

struct ProcessEnvironment {
    var seed: UInt64? { value("CONCORD_SEED").flatMap { UInt64($0) } }
    var soakMultiplier: Int? {
        guard let raw = value("CONCORD_SOAK"), let n = Int(raw), n > 0 else { return nil }
        return n == 1 ? 50 : n
    }

    private func value(_ name: String) -> String? {
        guard let raw = getenv(name) else { return nil }
        return String(cString: raw)
    }
}

extension PropertyRunner {
    /// ``check(_:cases:baseSeed:_:)`` for properties that need `await` (for example ones
    /// driving `Concord.Replica` actors). Same seeds, same environment variables.
    ///
    /// ```swift
    /// try await PropertyRunner.checkAsync("replicas converge", cases: 50) { rng in
    ///     let replica = try Replica(store: MemoryStore(), membership: .createSpace())
    ///     // ...
    /// }
    /// ```
    public static func checkAsync(
        _ name: String, cases: Int = 1000, baseSeed: UInt64 = defaultBaseSeed,
        _ property: (inout SeededGenerator) async throws -> Void
    ) async throws {
        let environment = ProcessEnvironment()
        var seeds: [UInt64]
        if let seed = environment.seed {
            seeds = [seed]
        } else if let soak = environment.soakMultiplier {
            var system = SystemRandomNumberGenerator()
            let base = system.next()
            print("property \(name): soak run, \(cases * soak) cases from base seed \(base)")
            seeds = (0..<(cases * soak)).map { base &+ UInt64($0) }
        } else {
            seeds = (0..<cases).map { baseSeed &+ UInt64($0) }
        }
        for seed in seeds {
            var rng = SeededGenerator(seed: seed)
            do {
                try await property(&rng)
            } catch {
                print("property \(name): FAILED for seed \(seed); reproduce with CONCORD_SEED=\(seed)\n\(error)")
                throw PropertyFailure(property: name, seed: seed, underlying: "\(error)")
            }
        }
        print("property \(name): \(seeds.count) cases passed (seeds \(seeds.first ?? 0)...\(seeds.last ?? 0))")
    }
}

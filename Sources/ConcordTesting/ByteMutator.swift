/// Seeded mutations of encoded bytes, for robustness tests of decoders: bit flips,
/// truncations, splices from another input, byte insertions and deletions, and edits
/// of varint length fields.
///
/// ```swift
/// var rng = SeededGenerator(seed: 1)
/// for _ in 0..<100_000 {
///     let mutated = ByteMutator.mutate(validBytes, donor: otherBytes, using: &rng)
///     _ = try? MyDecoder.decode(mutated)   // must throw a typed error or succeed, never crash
/// }
/// ```
public enum ByteMutator {
    /// The kinds of mutation.
    public enum Kind: CaseIterable, Sendable {
        case flipBit, truncate, splice, insertByte, deleteByte, setByte, bumpLength
    }

    /// One random mutation of `bytes` (never identical to the input when it is non-empty).
    /// - Parameters:
    ///   - bytes: the valid input to mutate.
    ///   - donor: other valid input to splice from.
    ///   - kind: a specific kind, or a random one.
    ///   - rng: the seeded generator that chooses the mutation.
    /// - Returns: the mutated bytes.
    public static func mutate(_ bytes: [UInt8], donor: [UInt8] = [], kind: Kind? = nil, using rng: inout SeededGenerator) -> [UInt8] {
        guard !bytes.isEmpty else { return [UInt8.random(in: 0...255, using: &rng)] }
        var out = bytes
        let i = Int.random(in: 0..<bytes.count, using: &rng)
        switch kind ?? Kind.allCases.randomElement(using: &rng)! {
        case .flipBit:
            out[i] ^= 1 << UInt8.random(in: 0..<8, using: &rng)
        case .truncate:
            out = Array(bytes.prefix(i))
        case .splice:
            let source = donor.isEmpty ? bytes : donor
            let from = Int.random(in: 0..<source.count, using: &rng)
            let length = Int.random(in: 1...max(1, min(32, source.count - from)), using: &rng)
            out = Array(bytes.prefix(i)) + source[from..<min(source.count, from + length)] + bytes.dropFirst(i)
        case .insertByte:
            out.insert(UInt8.random(in: 0...255, using: &rng), at: i)
        case .deleteByte:
            out.remove(at: i)
        case .setByte:
            var value = UInt8.random(in: 0...255, using: &rng)
            if value == out[i] { value &+= 1 }
            out[i] = value
        case .bumpLength:
            // Rewrite a byte as a large varint, the typical length-field attack.
            var huge: [UInt8] = [[0xFF, 0xFF, 0xFF, 0xFF, 0x0F], [0x80, 0x01], [0xFF, 0x7F], [0x7F]][Int.random(in: 0..<4, using: &rng)]
            if huge == [out[i]] { huge = [0xFF, 0x7F] }  // keep the promise: never the input itself
            out.replaceSubrange(i...i, with: huge)
        }
        return out
    }
}

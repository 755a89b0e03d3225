import ConcordCore

/// Chain monotonicity (`Specs/crdt-semantics.md` §11.2, `Specs/wire-format.md` §7.7 step
/// 11): a **data** bundle's `hlc min` is greater than its author's **chain mark** before it,
/// the greatest `hlc max` of the earlier data bundles in the chain (whatever became of them),
/// or there is no earlier data bundle. A data bundle that breaks it is void. Control bundles
/// are neither checked nor counted (`Specs/hlc.md` §9.5 says why).
///
/// The mark at a chain's head is the author's **held frontier**: every data bundle of the
/// author above the head that applies carries readings greater than it.
///
/// ```swift
/// var mark: HLCTimestamp? = nil
/// for bundle in chain {
///     if let reason = ChainRule.monotonicityFailure(of: bundle, after: mark) { print(reason.message) }
///     mark = ChainRule.mark(mark, through: bundle)
/// }
/// ```
extension ChainRule {
    /// The chain mark after `bundle`, given the mark before it (`nil`: no data bundle yet).
    /// - Complexity: O(1).
    public static func mark(_ before: HLCTimestamp?, through bundle: ChangeBundle) -> HLCTimestamp? {
        mark(before, isControl: bundle.isControl, hlcMax: bundle.hlcRange.upperBound)
    }

    /// The chain mark after a bundle with these header fields.
    /// - Complexity: O(1).
    public static func mark(_ before: HLCTimestamp?, isControl: Bool, hlcMax: HLCTimestamp) -> HLCTimestamp? {
        guard !isControl else { return before }
        return max(before ?? hlcMax, hlcMax)
    }

    /// Whether a bundle whose chain mark before it is `before` keeps the chain monotone.
    /// - Complexity: O(1).
    public static func isMonotone(_ bundle: ChangeBundle, after before: HLCTimestamp?) -> Bool {
        guard !bundle.isControl, let before else { return true }
        return bundle.hlcRange.lowerBound > before
    }

    /// The reason `bundle` is void by chain monotonicity (`chainNotMonotone`), or `nil` when
    /// it keeps its chain monotone.
    /// - Complexity: O(1).
    public static func monotonicityFailure(of bundle: ChangeBundle, after before: HLCTimestamp?) -> ConcordError? {
        guard !isMonotone(bundle, after: before), let before else { return nil }
        return ConcordError(
            .chainNotMonotone,
            "\(bundle) starts at \(bundle.hlcRange.lowerBound), not after \(before), the newest reading of its author's earlier bundles; "
                + "its author's Concord is faulty, so its changes are ignored on every member")
    }
}

extension ChangeBundle {
    /// The control flag and clock range of a bundle's header, read without decoding (or
    /// hashing) the rest: what a store needs to keep its chain marks. `nil` when the bytes
    /// do not start like a bundle of format 2 or 3.
    /// - Complexity: O(1).
    package static func headerClock(_ bytes: [UInt8]) -> (isControl: Bool, range: ClosedRange<HLCTimestamp>)? {
        // magic 4 | version 1 | flags 1 | space 32 | author 32 | seq varint | previous 32 | min 8 | max 8
        guard bytes.count > 70, Array(bytes.prefix(4)) == magic, bytes[4] == formatVersion || bytes[4] == memberFormatVersion else {
            return nil
        }
        let isControl = bytes[4] == memberFormatVersion && bytes[5] & controlFlag != 0
        var offset = 70
        var shift: UInt64 = 0
        while true {
            guard offset < bytes.count, shift < 64 else { return nil }
            let byte = bytes[offset]
            offset += 1
            shift += 7
            if byte & 0x80 == 0 { break }
        }
        offset += 32
        guard offset + 16 <= bytes.count else { return nil }
        func fixed64(_ at: Int) -> UInt64 {
            (0..<8).reduce(UInt64(0)) { $0 | UInt64(bytes[at + $1]) << (8 * UInt64($1)) }
        }
        let low = HLCTimestamp(rawValue: fixed64(offset))
        let high = HLCTimestamp(rawValue: fixed64(offset + 8))
        guard low <= high else { return nil }
        return (isControl, low...high)
    }
}

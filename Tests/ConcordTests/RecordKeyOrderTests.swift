import ConcordCore
import ConcordTesting
import Testing

@testable import Concord

/// ``RecordKey/sorted(_:)`` (the import's read and write order, sorted as integers when
/// collection names fit in 16 bytes) gives the order of ``RecordKey``'s `<`, for names
/// short and long, sharing prefixes, empty, with NUL and non-ASCII bytes.
@Suite("Record key order")
struct RecordKeyOrderTests {
    static let names = [
        "", "a", "b", "ab", "a\0", "a\0b", "items", "items2", "itemsitemsitems1", "itemsitemsitems12", "itemsitemsitems1x",
        "itemsitemsitemsitems", "é", "e\u{301}", "zzzzzzzzzzzzzzzz", "zzzzzzzzzzzzzzz",
    ]

    @Test func flatSortingMatchesTheKeyOrder() throws {
        try PropertyRunner.check("record key order", cases: 1_000, baseSeed: 0x50_47ED) { rng in
            // Short names only (the integer path) in half the cases, any name in the rest.
            let pool = rng.seed % 2 == 0 ? Self.names.filter { $0.utf8.count <= 16 } : Self.names
            let ids = (0..<8).map { _ in RecordID(high: UInt64.random(in: 0...3, using: &rng), low: UInt64.random(in: 0...3, using: &rng)) }
            let keys = (0..<Int.random(in: 0...40, using: &rng)).map { _ in
                RecordKey(pool.randomElement(using: &rng)!, ids.randomElement(using: &rng)!)
            }
            let sorted = RecordKey.sorted(keys)
            #expect(sorted == keys.sorted(), "seed \(rng.seed)")
        }
    }
}

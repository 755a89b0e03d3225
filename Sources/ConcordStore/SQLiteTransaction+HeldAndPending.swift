import ConcordCore
import ConcordCrypto
import Foundation
import GRDB

// Held and quarantined bundles, pending local operations and recovery of a
// ``SQLiteTransaction`` (split from SQLiteTransaction.swift, which keeps the connection's
// statements, records, queries and chains).
extension SQLiteTransaction {
    // MARK: Held and quarantined

    func heldBundle(of author: PublicKey, sequence: UInt64) throws -> StoredBundle? {
        try mapping {
            let statement = try db.cachedStatement(
                sql: "SELECT id, author, seq, previous, bytes, 0, NULL FROM held_bundles WHERE author = ? AND seq = ?")
            return try Row.fetchOne(statement, arguments: [Data(author.bytes), Int64(bitPattern: sequence)]).map(Self.bundle)
        }
    }

    func heldBundles() throws -> [StoredBundle] {
        try mapping {
            try Row.fetchAll(
                db.cachedStatement(sql: "SELECT id, author, seq, previous, bytes, 0, NULL FROM held_bundles ORDER BY author, seq")
            )
            .map(Self.bundle)
        }
    }

    func quarantinedBundles() throws -> [StoredBundle] {
        try mapping {
            try Row.fetchAll(
                db.cachedStatement(sql: "SELECT id, author, seq, previous, bytes, 0, NULL FROM quarantined_bundles ORDER BY position")
            ).map(Self.bundle)
        }
    }

    func holdBundle(_ bundle: StoredBundle) throws {
        try mapping {
            let author = Data(bundle.author.bytes)
            let sequence = Int64(bitPattern: bundle.sequence)
            let id = Data(bundle.id.bytes)
            let taken =
                try Bool.fetchOne(
                    db.cachedStatement(sql: "SELECT EXISTS (SELECT 1 FROM held_bundles WHERE (author = ? AND seq = ?) OR id = ?)"),
                    arguments: [author, sequence, id]) ?? false
            guard !taken else {
                throw StoreError(.constraint, "a bundle is already held at sequence \(bundle.sequence) of \(bundle.author.hex.prefix(8))")
            }
            try db.cachedStatement(sql: "INSERT INTO held_bundles (author, seq, id, previous, bytes) VALUES (?, ?, ?, ?, ?)")
                .execute(arguments: [author, sequence, id, Data(bundle.previous.bytes), Data(bundle.bytes)])
        }
    }

    func removeHeldBundle(of author: PublicKey, sequence: UInt64) throws {
        try mapping {
            try db.cachedStatement(sql: "DELETE FROM held_bundles WHERE author = ? AND seq = ?")
                .execute(arguments: [Data(author.bytes), Int64(bitPattern: sequence)])
        }
    }

    func quarantineBundle(_ bundle: StoredBundle) throws {
        try mapping {
            try db.cachedStatement(
                sql: "INSERT OR IGNORE INTO quarantined_bundles (id, author, seq, previous, bytes) VALUES (?, ?, ?, ?, ?)"
            )
            .execute(arguments: [
                Data(bundle.id.bytes), Data(bundle.author.bytes), Int64(bitPattern: bundle.sequence), Data(bundle.previous.bytes),
                Data(bundle.bytes),
            ])
        }
    }

    func removeQuarantinedBundle(_ id: Digest32) throws {
        try mapping {
            try db.cachedStatement(sql: "DELETE FROM quarantined_bundles WHERE id = ?").execute(arguments: [Data(id.bytes)])
        }
    }

    // MARK: Pending local operations

    func pendingOperations() throws -> [RecordOperation] {
        try mapping {
            var ops: [RecordOperation] = []
            let rows = try Data.fetchCursor(db.cachedStatement(sql: "SELECT batch FROM pending_ops ORDER BY position"))
            while let batch = try rows.next() {
                do {
                    ops += try OperationCodec.decode(Array(batch))
                } catch {
                    throw StoreError(.decoding, "a stored batch of unsealed changes cannot be decoded (\(error)); the store is damaged")
                }
            }
            return ops
        }
    }

    func pendingOperationCount() throws -> Int {
        try mapping { try Int.fetchOne(db.cachedStatement(sql: "SELECT COALESCE(SUM(op_count), 0) FROM pending_ops")) ?? 0 }
    }

    func appendPendingOperations(_ ops: [RecordOperation]) throws {
        guard !ops.isEmpty else { return }
        try mapping {
            try db.cachedStatement(sql: "INSERT INTO pending_ops (op_count, batch) VALUES (?, ?)")
                .execute(arguments: [ops.count, Data(OperationCodec.encode(ops))])
        }
    }

    func markPendingSealed(sequence: UInt64) throws {
        try mapping {
            try db.cachedStatement(sql: "DELETE FROM pending_ops").execute()
            try db.cachedStatement(sql: "UPDATE records SET local_seq = ? WHERE local_seq = 0").execute(arguments: [
                Int64(bitPattern: sequence)
            ])
        }
    }

    // MARK: Recovery

    func removeChainBundles(of author: PublicKey, after sequence: UInt64) throws -> [StoredBundle] {
        try mapping {
            let key = Data(author.bytes)
            let above = Int64(bitPattern: sequence)
            let removed = try Row.fetchAll(
                db.cachedStatement(
                    sql: "SELECT id, author, seq, previous, bytes, position, mark FROM bundles WHERE author = ? AND seq > ? ORDER BY seq"),
                arguments: [key, above]
            ).map(Self.bundle)
            guard !removed.isEmpty else { return [] }
            let floor = try self.floor(of: author)
            if let floor, sequence < floor.sequence {
                throw StoreError(
                    .constraint,
                    "the chain of \(author.hex.prefix(8)) starts above \(floor.sequence) (a snapshot's floor): it cannot end at \(sequence)"
                )
            }
            try db.cachedStatement(sql: "DELETE FROM bundles WHERE author = ? AND seq > ?").execute(arguments: [key, above])
            if let floor, sequence == floor.sequence {
                try db.cachedStatement(sql: "UPDATE chain_heads SET seq = ?, id = ?, mark = ? WHERE author = ?").execute(arguments: [
                    above, Data(floor.id.bytes), Self.markValue(floor.mark), key,
                ])
            } else if sequence == 0 {
                try db.cachedStatement(sql: "DELETE FROM chain_heads WHERE author = ?").execute(arguments: [key])
            } else {
                guard
                    let head = try Row.fetchOne(
                        db.cachedStatement(sql: "SELECT id, mark FROM bundles WHERE author = ? AND seq = ?"), arguments: [key, above])
                else {
                    throw StoreError(.constraint, "the chain of \(author.hex.prefix(8)) has no bundle \(sequence) to end at")
                }
                let id: Data = head[0]
                let mark: Int64? = head[1]
                try db.cachedStatement(sql: "UPDATE chain_heads SET seq = ?, id = ?, mark = ? WHERE author = ?").execute(arguments: [
                    above, id, mark, key,
                ])
            }
            return removed
        }
    }

    /// The metadata key of `author`'s floor link (section 3.5 of `Specs/storage-schema.md`).
    static func floorKey(_ author: PublicKey) -> String { "chain.floor." + author.hex }

    func chainFloor(of author: PublicKey) throws -> ChainHead? { try floor(of: author) }

    /// `author`'s floor link, if its chain was loaded from a snapshot.
    func floor(of author: PublicKey) throws -> ChainHead? {
        guard let bytes = try metadata(Self.floorKey(author)), bytes.count >= 40 else { return nil }
        let sequence = bytes[0..<8].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        let mark = bytes.count == 48 ? HLCTimestamp(rawValue: bytes[40..<48].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }) : nil
        return ChainHead(sequence: sequence, id: try Digest32(bytes: bytes[8..<40]), mark: mark)
    }

    func setChainFloor(_ head: ChainHead, of author: PublicKey) throws {
        let bigEndian = { (value: UInt64) in (0..<8).map { UInt8(truncatingIfNeeded: value >> (56 - 8 * $0)) } }
        try setMetadata(
            bigEndian(head.sequence) + head.id.bytes + (head.mark.map { bigEndian($0.rawValue) } ?? []), for: Self.floorKey(author))
        try mapping {
            let key = Data(author.bytes)
            guard try Row.fetchOne(db.cachedStatement(sql: "SELECT 1 FROM chain_heads WHERE author = ?"), arguments: [key]) == nil else {
                throw StoreError(.constraint, "the chain of \(author.hex.prefix(8)) already has a head; a floor goes under an empty chain")
            }
            try db.cachedStatement(sql: "INSERT INTO chain_heads (author, seq, id, mark) VALUES (?, ?, ?, ?)").execute(arguments: [
                key, Int64(bitPattern: head.sequence), Data(head.id.bytes), Self.markValue(head.mark),
            ])
        }
    }

    func replacePendingOperations(_ ops: [RecordOperation]) throws {
        try mapping { try db.cachedStatement(sql: "DELETE FROM pending_ops").execute() }
        try appendPendingOperations(ops)
    }

    func rebaseLocalSequences(acknowledged: UInt64) throws {
        try mapping {
            let bound = Int64(bitPattern: acknowledged)
            try db.cachedStatement(sql: "UPDATE records SET local_seq = NULL WHERE local_seq > 0 AND local_seq <= ?").execute(arguments: [
                bound
            ])
            try db.cachedStatement(sql: "UPDATE records SET local_seq = 0 WHERE local_seq > ?").execute(arguments: [bound])
        }
    }
}

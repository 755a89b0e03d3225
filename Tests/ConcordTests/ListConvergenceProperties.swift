import ConcordCore
import ConcordStore
import ConcordTesting
import Foundation
import Testing

@testable import Concord
@testable import ConcordProtocol

/// Ordered lists (`Specs/crdt-semantics.md` §10), seeded: replicas edit an array property
/// concurrently (insert, delete, move, duplicate values) and sync in random order. They
/// always converge; and edits made one after the other, each seen by the next editor, are
/// kept exactly, order and duplicates included.
@Suite("Ordered list properties")
struct ListConvergenceProperties {
    struct Playlist: Codable, Identifiable {
        var id: UUID
        var songs: [String]
    }

    static let id = UUID(uuidString: "6F9619FF-8B86-4D11-B42D-00C04FC964FF")!

    static func edit(_ songs: [String], _ rng: inout SeededGenerator) -> [String] {
        var songs = songs
        for _ in 0..<Int.random(in: 1...4, using: &rng) {
            switch Int.random(in: 0..<4, using: &rng) {
            case 0, 1:
                // A small alphabet, so duplicates are common.
                songs.insert("s\(Int.random(in: 0..<6, using: &rng))", at: Int.random(in: 0...songs.count, using: &rng))
            case 2 where !songs.isEmpty:
                songs.remove(at: Int.random(in: 0..<songs.count, using: &rng))
            case 3 where songs.count > 1:
                let song = songs.remove(at: Int.random(in: 0..<songs.count, using: &rng))
                songs.insert(song, at: Int.random(in: 0...songs.count, using: &rng))
            default:
                songs.append("end")
            }
        }
        return songs
    }

    static func replicas(_ count: Int) throws -> [Replica] {
        let founder = Membership.createSpace(encrypted: false)
        let invite = try founder.writerInvite()
        return try (0..<count).map { i in
            try Replica(store: MemoryStore(), membership: i == 0 ? founder : try Membership.join(invite))
        }
    }

    static func songs(_ replica: Replica) async throws -> [String] {
        try await replica.fetch(Playlist.self, id: id, in: "lists")?.songs ?? []
    }

    @Test func concurrentEditsConverge() async throws {
        try await PropertyRunner.checkAsync("2-3 replicas editing one list concurrently converge", cases: 40) { rng in
            let replicas = try Self.replicas(Int.random(in: 2...3, using: &rng))
            for _ in 0..<Int.random(in: 3...12, using: &rng) {
                let replica = replicas[Int.random(in: 0..<replicas.count, using: &rng)]
                if rng.chance(0.6) {
                    let songs = Self.edit(try await Self.songs(replica), &rng)
                    try await replica.save(Playlist(id: Self.id, songs: songs), in: "lists")
                } else {
                    let other = replicas[Int.random(in: 0..<replicas.count, using: &rng)]
                    try await exchange(replica, other)
                }
            }
            for _ in 0..<2 {
                for a in replicas { for b in replicas where a !== b { try await exchange(a, b) } }
            }
            let lists = try await replicas.asyncMap { try await Self.songs($0) }
            #expect(Set(lists.map { $0.joined(separator: ",") }).count == 1, "seed \(rng.seed): \(lists)")
            let digests = try await replicas.asyncMap { try await $0.state().digestHex }
            #expect(Set(digests).count == 1, "seed \(rng.seed)")
        }
    }

    @Test func sequentialEditsAreKeptExactly() async throws {
        try await PropertyRunner.checkAsync("edits seen by the next editor are kept exactly", cases: 40) { rng in
            let replicas = try Self.replicas(2)
            var expected: [String] = []
            for _ in 0..<Int.random(in: 1...10, using: &rng) {
                let replica = replicas[Int.random(in: 0..<2, using: &rng)]
                expected = Self.edit(expected, &rng)
                try await replica.save(Playlist(id: Self.id, songs: expected), in: "lists")
                try await sync(replicas[0], replicas[1])
                for replica in replicas {
                    #expect(try await Self.songs(replica) == expected, "seed \(rng.seed)")
                }
            }
        }
    }
}

extension Array {
    func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var result: [T] = []
        for element in self { result.append(try await transform(element)) }
        return result
    }
}

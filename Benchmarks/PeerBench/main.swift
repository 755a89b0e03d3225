// concord-peer-bench: the workers of the peer benchmark (Benchmarks/peer_bench.py runs
// them in network namespaces, beside the real `concord` CLI).
//
//   concord-peer-bench prepare DIR OPS          # DIR/source with OPS operations in bundles of
//                                               # 1,000; DIR/peer-dest, DIR/relay-dest, DIR/live-*
//                                               # joined to the same space, empty
//   concord-peer-bench listen STORE PORT COUNT  # accepts peers; prints one latency (ms) per
//                                               # received live write, exits after COUNT
//   concord-peer-bench write STORE PEER COUNT INTERVAL_MS
//                                               # dials PEER, then writes COUNT records, one
//                                               # every INTERVAL_MS, each stamped with the time
//
// A live write's latency is the receiver's wall clock when the record appears in its
// replica (an observer of the collection) minus the time the writer stamped it just before
// `write`: both processes run on one machine, in two namespaces, so they share the clock.

import Concord
import ConcordCore
import ConcordSync
import Foundation

/// Writes a line to stdout at once (the driver reads it through a pipe).
func emit(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("concord-peer-bench: \(message)\n".utf8))
    exit(1)
}

func prepare(directory: String, ops: Int) async throws {
    try? FileManager.default.removeItem(atPath: directory)
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    let source = try Replica.createWithoutMembers(at: directory + "/source", options: Replica.Options(autoSealOperationCount: nil))
    let perBundle = min(1_000, ops)
    var written = 0
    var record: UInt64 = 0
    while written < ops {
        let count = min(perBundle, ops - written)
        try await source.write { tx in
            for _ in 0..<count {
                try tx.set("score", to: .int(Int64(record)), record: RecordID(high: 7, low: record), in: "progress")
                record += 1
            }
        }
        try await source.seal()
        written += count
    }
    for name in ["peer-dest", "relay-dest", "live-listener", "live-writer"] {
        _ = try Replica.join(try await source.invite(), at: directory + "/" + name)
    }
    emit("prepared \(ops) operations in \(try await source.bundleCount()) bundles")
}

func listen(store: String, port: Int, count: Int) async throws {
    let replica = try Replica.open(at: store)
    let engine = try SyncEngine(replica: replica, peering: SyncEngine.Peering(listenPort: port, advertise: false))
    let changes = await replica.changes(in: "ping")
    await engine.start()
    emit("listening")
    var seen = 0
    for await batch in changes {
        let now = Date().timeIntervalSince1970
        for change in batch {
            guard let view = try await replica.record(change.id, in: "ping"), case .double(let stamped)? = view["t"] else { continue }
            emit(String(format: "latency %.3f", (now - stamped) * 1000))
            seen += 1
        }
        if seen >= count { break }
    }
    await engine.stop()
}

func write(store: String, peer: String, count: Int, interval: Double) async throws {
    guard let endpoint = PeerEndpoint(peer) else { fail("\(peer) is not HOST:PORT") }
    let replica = try Replica.open(at: store)
    let engine = try SyncEngine(replica: replica, peering: SyncEngine.Peering(endpoints: [endpoint]))
    await engine.start()
    for await status in await engine.status where status == .synced { break }
    for _ in 0..<count {
        try await Task.sleep(for: .seconds(interval))
        try await replica.write { tx in
            try tx.set("t", to: .double(Date().timeIntervalSince1970), record: RecordID.random(), in: "ping")
        }
    }
    try await Task.sleep(for: .seconds(2))
    await engine.stop()
}

let arguments = CommandLine.arguments
guard arguments.count >= 2 else { fail("usage: prepare DIR OPS | listen STORE PORT COUNT | write STORE PEER COUNT INTERVAL_MS") }
switch arguments[1] {
case "prepare" where arguments.count == 4:
    try await prepare(directory: arguments[2], ops: Int(arguments[3]) ?? 0)
case "listen" where arguments.count == 5:
    try await listen(store: arguments[2], port: Int(arguments[3]) ?? 0, count: Int(arguments[4]) ?? 0)
case "write" where arguments.count == 6:
    try await write(store: arguments[2], peer: arguments[3], count: Int(arguments[4]) ?? 0, interval: (Double(arguments[5]) ?? 20) / 1000)
default:
    fail("usage: prepare DIR OPS | listen STORE PORT COUNT | write STORE PEER COUNT INTERVAL_MS")
}

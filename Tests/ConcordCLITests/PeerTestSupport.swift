import Foundation
import Testing

/// Stores of one space for peer tests, and the checks they share.
enum PeerFixtures {
    /// `count` writer stores of one new space in `scratch` (the first created it).
    static func members(_ count: Int, cli: CLI, scratch: Scratch, prefix: String = "m") throws -> [Device] {
        let first = Device(cli: cli, store: scratch.file("\(prefix)0"))
        try first.ok("init", "--format", "2")
        let token = try first.ok("invite").trimmingCharacters(in: .whitespacesAndNewlines)
        var devices = [first]
        for index in 1..<max(count, 1) {
            let device = Device(cli: cli, store: scratch.file("\(prefix)\(index)"))
            try device.ok("join", token)
            devices.append(device)
        }
        return Array(devices.prefix(count))
    }

    /// `concord peer serve` on `device`'s store, on loopback, any free port, not advertised
    /// (read the port with ``BackgroundProcess/peerPort(timeout:)``).
    static func serve(_ device: Device) throws -> BackgroundProcess {
        try BackgroundProcess(
            device.cli.binary, ["--store", device.store, "peer", "serve", "--port", "0", "--host", "127.0.0.1", "--no-advertise"],
            label: "peer serve")
    }

    /// `concord status --json` as a dictionary.
    static func status(_ device: Device) throws -> [String: Any] {
        let text = try device.ok("status", "--json")
        return try JSONSerialization.jsonObject(with: Data(text.utf8)) as! [String: Any]
    }

    /// The state digest of a store.
    static func digest(_ device: Device) throws -> String {
        try status(device)["state_digest"] as! String
    }

    /// Writes a note record; returns its id.
    @discardableResult
    static func note(_ device: Device, _ text: String) throws -> String {
        let id = UUID().uuidString
        try device.ok("put", "notes", id, "text=\"\(text)\"")
        return id
    }

    /// The note texts of a store, sorted.
    static func notes(_ device: Device) throws -> [String] {
        let text = try device.ok("list", "notes", "--json")
        let array = try JSONSerialization.jsonObject(with: Data(text.utf8)) as! [[String: Any]]
        return array.compactMap { ($0["fields"] as? [String: Any])?["text"] as? String }.sorted()
    }

    /// Polls until `condition` holds or `timeout` seconds pass; returns whether it held.
    /// Sleeps with `Task.sleep`, never blocking a thread of the cooperative pool (a blocked
    /// minute-long poll on each of 2 cores stalled every other test's timers in CI).
    static func eventually(timeout: Double, every interval: Double = 0.3, _ condition: () throws -> Bool) async throws -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if try condition() { return true }
            try await Task.sleep(for: .milliseconds(Int(interval * 1000)))
        }
        return try condition()
    }
}

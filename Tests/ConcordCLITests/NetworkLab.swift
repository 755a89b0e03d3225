import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A process started in the background (often `ip netns exec NS concord …`), whose output
/// lines are collected so a test can wait for one.
///
/// `@unchecked Sendable`: wraps a `Process` and a pipe; the output is only touched under `lock`.
final class BackgroundProcess: @unchecked Sendable {
    let process: Process
    let label: String
    private let lock = NSLock()
    private var data = Data()

    init(_ executable: String, _ arguments: [String], label: String, environment: [String: String] = [:]) throws {
        self.label = label
        process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        env["CONCORD_STORE"] = nil
        for (key, value) in environment { env[key] = value }
        process.environment = env
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        process.standardInput = FileHandle.nullDevice
        pipe.fileHandleForReading.readabilityHandler = { [weak self] handle in
            let chunk = handle.availableData
            if chunk.isEmpty {
                handle.readabilityHandler = nil
            } else {
                self?.lock.withLock { self?.data.append(chunk) }
            }
        }
        try process.run()
    }

    /// Everything printed so far (stdout and stderr).
    var output: String { lock.withLock { String(decoding: data, as: UTF8.self) } }

    /// Waits until a printed line satisfies `predicate`; returns it.
    /// Sleeps with `Task.sleep`, never blocking a thread of the cooperative pool (on a
    /// 2-core machine two blocked threads stall every other test's timers).
    func waitForLine(timeout: Double, _ predicate: (Substring) -> Bool) async throws -> Substring {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if let line = output.split(separator: "\n").first(where: predicate) { return line }
            if !process.isRunning { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw LabError(description: "\(label): no expected line within \(timeout) s; output:\n\(output)")
    }

    /// The port of a `listening on peer://HOST:PORT` line.
    func peerPort(timeout: Double = 60) async throws -> Int {
        let line = try await waitForLine(timeout: timeout) { $0.hasPrefix("listening on peer://") }
        guard let colon = line.lastIndex(of: ":"), let port = Int(line[line.index(after: colon)...]) else {
            throw LabError(description: "\(label): unreadable line \(line)")
        }
        return port
    }

    /// SIGTERM (then SIGKILL after 5 s); returns the exit status.
    @discardableResult
    func stop() -> Int32 {
        if process.isRunning {
            kill(process.processIdentifier, SIGTERM)
            let deadline = Date().addingTimeInterval(5)
            while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.02) }
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        }
        process.waitUntilExit()
        return process.terminationStatus
    }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }
}

struct LabError: Error, CustomStringConvertible { var description: String }

/// Hosts in network namespaces joined by bridges ("switches", each a namespace of its own),
/// every host running real processes through `ip netns exec`. Needs root and a kernel that
/// allows network namespaces and veth pairs; ``unavailableReason`` says why not.
///
/// Every name carries a random id, and ``destroy()`` removes every namespace it made (its
/// processes first), so labs of concurrent tests never meet.
final class NetworkLab: @unchecked Sendable {
    struct Host {
        let namespace: String
        /// IPv4 address per switch index.
        var addresses: [Int: String]
        var address: String { addresses.sorted { $0.key < $1.key }.first!.value }
    }

    let id: String
    private(set) var switches: [String] = []
    private(set) var hosts: [String: Host] = [:]
    private var processes: [BackgroundProcess] = []
    private var namespaces: [String] = []
    let cli: CLI

    /// `nil` when namespaces can be used here; else a sentence saying why not.
    static let unavailableReason: String? = {
        guard getuid() == 0 else {
            return "not running as root (network namespaces need CAP_SYS_ADMIN); run the tests as root, as .ci/run does"
        }
        let probe = "ccprobe\(UInt32.random(in: 0...0xffffff))"
        let added = shell(["ip", "netns", "add", probe])
        defer { _ = shell(["ip", "netns", "del", probe]) }
        guard added.status == 0 else {
            return
                "the kernel or container forbids network namespaces (`ip netns add` failed: \(added.output.trimmingCharacters(in: .whitespacesAndNewlines)))"
        }
        let veth = shell(["ip", "-n", probe, "link", "add", "a0", "type", "veth", "peer", "name", "b0"])
        guard veth.status == 0 else {
            return
                "the kernel forbids veth pairs (`ip link add type veth` failed: \(veth.output.trimmingCharacters(in: .whitespacesAndNewlines)))"
        }
        let bridge = shell(["ip", "-n", probe, "link", "add", "br0", "type", "bridge"])
        guard bridge.status == 0 else {
            return
                "the kernel forbids bridges (`ip link add type bridge` failed: \(bridge.output.trimmingCharacters(in: .whitespacesAndNewlines)))"
        }
        return nil
    }()

    /// Whether iptables with the `statistic` match works (for packet loss).
    static let iptablesReason: String? = {
        guard unavailableReason == nil else { return unavailableReason }
        let probe = "ccprobe\(UInt32.random(in: 0...0xffffff))"
        _ = shell(["ip", "netns", "add", probe])
        defer { _ = shell(["ip", "netns", "del", probe]) }
        let rule = shell([
            "ip", "netns", "exec", probe, "iptables", "-A", "INPUT", "-m", "statistic", "--mode", "random", "--probability", "0.2", "-j",
            "DROP",
        ])
        return rule.status == 0
            ? nil
            : "iptables with the statistic match is unavailable (\(rule.output.trimmingCharacters(in: .whitespacesAndNewlines))); install it with `apt-get install -y iptables`, as .ci/run does"
    }()

    @discardableResult
    static func shell(_ arguments: [String]) -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        do {
            try process.run()
        } catch {
            return (127, "\(error)")
        }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    init(cli: CLI) {
        self.cli = cli
        id = String(format: "%05x", UInt32.random(in: 0...0xfffff))
    }

    /// Runs a command that must succeed.
    func must(_ arguments: [String]) throws {
        let result = Self.shell(arguments)
        guard result.status == 0 else { throw LabError(description: "`\(arguments.joined(separator: " "))` failed: \(result.output)") }
    }

    /// A new switch (a bridge in its own namespace); returns its index.
    @discardableResult
    func addSwitch() throws -> Int {
        let namespace = "cc\(id)s\(switches.count)"
        try must(["ip", "netns", "add", namespace])
        namespaces.append(namespace)
        try must(["ip", "-n", namespace, "link", "add", "br0", "type", "bridge"])
        try must(["ip", "-n", namespace, "link", "set", "br0", "up"])
        switches.append(namespace)
        return switches.count - 1
    }

    /// A new host plugged into the given switches, with address `10.7<switch>.0.<number>/24`
    /// on each (interfaces eth0, eth1, …), loopback up, and a multicast route.
    func addHost(_ name: String, number: Int, switches plugged: [Int] = [0]) throws {
        let namespace = "cc\(id)\(name)"
        try must(["ip", "netns", "add", namespace])
        namespaces.append(namespace)
        try must(["ip", "-n", namespace, "link", "set", "lo", "up"])
        var addresses: [Int: String] = [:]
        for (index, switchIndex) in plugged.enumerated() {
            let port = "\(name)\(index)"
            let interface = "eth\(index)"
            let address = "10.7\(switchIndex).0.\(number)"
            try must([
                "ip", "link", "add", port, "netns", switches[switchIndex], "type", "veth", "peer", "name", interface, "netns", namespace,
            ])
            try must(["ip", "-n", switches[switchIndex], "link", "set", port, "master", "br0", "up"])
            try must(["ip", "-n", namespace, "addr", "add", address + "/24", "dev", interface])
            try must(["ip", "-n", namespace, "link", "set", interface, "up"])
            if index == 0 { try must(["ip", "-n", namespace, "route", "add", "224.0.0.0/4", "dev", interface]) }
            addresses[switchIndex] = address
        }
        hosts[name] = Host(namespace: namespace, addresses: addresses)
    }

    func host(_ name: String) -> Host { hosts[name]! }

    /// Runs `concord` on `host` and waits for it.
    @discardableResult
    func concord(_ host: String, _ arguments: [String]) throws -> CLI.Result {
        try CLI.execute("/usr/bin/env", ["ip", "netns", "exec", self.host(host).namespace, cli.binary] + arguments)
    }

    /// Starts a program on `host` in the background.
    func spawn(_ host: String, _ executable: String, _ arguments: [String], label: String, environment: [String] = []) throws
        -> BackgroundProcess
    {
        let process = try BackgroundProcess(
            "/usr/bin/env", environment + ["ip", "netns", "exec", self.host(host).namespace, executable] + arguments,
            label: "\(host): \(label)")
        processes.append(process)
        return process
    }

    /// Starts `concord` on `host` in the background, with discovery's debug log (what it
    /// sends and hears) in its output, so that a failed expectation shows why hosts did not
    /// find each other.
    func spawnConcord(_ host: String, _ arguments: [String]) throws -> BackgroundProcess {
        try spawn(
            host, cli.binary, arguments, label: "concord " + arguments.filter { !$0.hasPrefix("/") }.joined(separator: " "),
            environment: ["CONCORD_LOG=debug:concord.discovery"])
    }

    /// Takes `host`'s link to switch `index` down or up (a partition and its heal).
    func setLink(_ host: String, switchIndex: Int = 0, up: Bool) throws {
        let port = "\(host)\(self.host(host).addresses.keys.sorted().firstIndex(of: switchIndex)!)"
        try must(["ip", "-n", switches[switchIndex], "link", "set", port, up ? "up" : "down"])
    }

    /// Drops `percent` of the packets `host` receives and sends (iptables `statistic`).
    func dropPackets(_ host: String, percent: Int) throws {
        for chain in ["INPUT", "OUTPUT"] {
            try must([
                "ip", "netns", "exec", self.host(host).namespace, "iptables", "-A", chain, "-m", "statistic", "--mode", "random",
                "--probability", String(Double(percent) / 100), "-j", "DROP",
            ])
        }
    }

    /// Stops every process (SIGTERM), then deletes every namespace.
    func destroy() {
        for process in processes.reversed() { process.stop() }
        for namespace in namespaces.reversed() { Self.shell(["ip", "netns", "del", namespace]) }
    }
}

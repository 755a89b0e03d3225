import Foundation

/// A long-running `concord` subprocess (`sync --watch`) whose stdout lines are collected.
///
/// `@unchecked Sendable`: wraps a `Process`; the collected output is only touched under
/// the lock of its `RelayProcess.LineBox`.
final class BackgroundCLI: @unchecked Sendable {
    let process: Process
    private let box = RelayProcess.LineBox()
    private let errors = RelayProcess.LineBox()

    /// Starts `concord <arguments>` with `environment` added.
    init(cli: CLI, _ arguments: [String], environment: [String: String] = [:]) throws {
        process = Process()
        process.executableURL = URL(fileURLWithPath: cli.binary)
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        env["CONCORD_STORE"] = nil
        for (key, value) in environment { env[key] = value }
        process.environment = env
        let output = Pipe()
        let errorOutput = Pipe()
        process.standardOutput = output
        process.standardError = errorOutput
        process.standardInput = FileHandle.nullDevice
        for (pipe, box) in [(output, box), (errorOutput, errors)] {
            pipe.fileHandleForReading.readabilityHandler = { handle in
                let data = handle.availableData
                if data.isEmpty { handle.readabilityHandler = nil } else { box.append(data) }
            }
        }
        try process.run()
    }

    /// Everything printed on stdout so far.
    var output: String { box.text }
    /// Everything printed on stderr so far.
    var errorOutput: String { errors.text }

    /// Waits until stdout has a line containing `text`, polling with `Task.sleep` so no
    /// thread of the cooperative pool is held meanwhile. The bound only matters when the
    /// line never comes: a loaded CI machine took over 30 s to start a watcher's first round.
    @discardableResult
    func waitForLine(containing text: String, timeout: Double = 120) async throws -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if output.split(separator: "\n").contains(where: { $0.contains(text) }) { return true }
            if !process.isRunning { return false }
            try await Task.sleep(for: .milliseconds(20))
        }
        return false
    }

    /// SIGTERM, then waits; returns the exit status.
    @discardableResult
    func terminate() -> Int32 {
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
        return process.terminationStatus
    }
}

/// Polls `condition` every 50 ms for at most `timeout` seconds, with `Task.sleep`.
func eventually(timeout: Double = 60, _ condition: () throws -> Bool) async throws -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if try condition() { return true }
        try await Task.sleep(for: .milliseconds(50))
    }
    return try condition()
}

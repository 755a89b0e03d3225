import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// How a `concord` run bounded in time ended, and what it cost.
struct BoundedResult {
    var status: Int32
    var stdout: String
    var stderr: String
    /// The run did not end within the timeout and was killed (a hang).
    var timedOut: Bool
    /// The child's peak resident memory, in bytes (`ru_maxrss` from `wait4`). On Linux
    /// this is at least the spawning process's own peak at the time of the spawn
    /// (`posix_spawn` uses `vfork`, and `exec` counts the shared address space's high
    /// water mark): compare it with ``CLI/memoryFloor()``, not with a constant alone.
    var peakMemory: Int
}

extension CLI {
    /// Runs `concord` with `arguments` in its own process, kills it if it has not ended
    /// after `timeout` seconds, and reports its peak resident memory. A command that
    /// hangs (blocked on a FIFO, for instance) makes the test fail instead of hanging
    /// the suite. Waits by polling with `Task.sleep`, so a long run does not hold one of
    /// the few threads of Swift's cooperative pool (other suites' timers would starve).
    /// `$CONCORD_STORE` is unset unless given.
    func runBounded(_ arguments: [String], timeout: Double = 120, environment: [String: String] = [:]) async throws -> BoundedResult {
        let scratch = FileManager.default.temporaryDirectory.path + "/concord-bounded-" + UUID().uuidString
        let outPath = scratch + ".out"
        let errPath = scratch + ".err"
        defer {
            unlink(outPath)
            unlink(errPath)
        }
        var env = ProcessInfo.processInfo.environment
        env["CONCORD_STORE"] = nil
        for (key, value) in environment { env[key] = value }

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_addopen(&actions, 2, errPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)

        let argv = ([binary] + arguments).map { strdup($0) } + [nil]
        let envp = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, binary, &actions, nil, argv, envp)
        guard spawned == 0 else { throw CLIMissing(description: "posix_spawn \(binary): \(String(cString: strerror(spawned)))") }

        var status: Int32 = 0
        var usage = rusage()
        var timedOut = false
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            let reaped = wait4(pid, &status, WNOHANG, &usage)
            if reaped == pid { break }
            if reaped < 0 && errno != EINTR { throw CLIMissing(description: "wait4: \(String(cString: strerror(errno)))") }
            if Date() > deadline {
                timedOut = true
                kill(pid, SIGKILL)
                _ = wait4(pid, &status, 0, &usage)
                break
            }
            try await Task.sleep(nanoseconds: 20_000_000)
        }
        // WIFEXITED / WEXITSTATUS, spelled out (the C macros are not imported).
        let exitStatus: Int32 = (status & 0x7F) == 0 ? (status >> 8) & 0xFF : -(status & 0x7F)
        #if canImport(Darwin)
        let peak = Int(usage.ru_maxrss)  // bytes on Darwin
        #else
        let peak = Int(usage.ru_maxrss) * 1024  // KiB on Linux
        #endif
        return BoundedResult(
            status: exitStatus,
            stdout: String(decoding: (try? Data(contentsOf: URL(fileURLWithPath: outPath))) ?? Data(), as: UTF8.self),
            stderr: String(decoding: (try? Data(contentsOf: URL(fileURLWithPath: errPath))) ?? Data(), as: UTF8.self),
            timedOut: timedOut, peakMemory: peak)
    }
}

extension CLI {
    /// What ``BoundedResult/peakMemory`` reports for a run that itself uses almost
    /// nothing (`concord --version`) spawned now: the floor the spawning process's own
    /// memory puts under every measurement (see ``BoundedResult/peakMemory``). Measure it
    /// after the run it bounds: the floor only grows.
    func memoryFloor() async throws -> Int {
        try await runBounded(["--version"], timeout: 60).peakMemory
    }
}

extension Device {
    /// ``CLI/runBounded(_:timeout:environment:)`` on this store.
    func runBounded(_ arguments: String..., timeout: Double = 120) async throws -> BoundedResult {
        try await cli.runBounded(["--store", store] + arguments, timeout: timeout)
    }
}

import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The README's "Sync through a relay" five lines, run as written with the real `concord`
/// binary (only the port changes, to a free one), so the quick start cannot drift.
@Suite("README: sync through a relay (real processes)")
struct ReadmeRelayTests {
    /// The fenced `sh` block under `## Sync through a relay`.
    static func quickStart() throws -> [String] {
        let readme = try String(contentsOfFile: CLI.packageRoot + "/README.md", encoding: .utf8)
        let section = try #require(readme.range(of: "## Sync through a relay"), "README lost its relay section")
        let rest = readme[section.upperBound...]
        let open = try #require(rest.range(of: "```sh\n"))
        let close = try #require(rest[open.upperBound...].range(of: "```"))
        return rest[open.upperBound..<close.lowerBound].split(separator: "\n").map(String.init)
    }

    /// A port nothing listens on right now.
    static func freePort() throws -> UInt16 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard ok else { throw TCPProxy.ProxyError(description: "bind failed: \(errno)") }
        return UInt16(bigEndian: address.sin_port)
    }

    @Test("five lines: relay serve, init/join, put, sync, sync and list bring two stores to the same state")
    func fiveLines() throws {
        let lines = try Self.quickStart()
        #expect(lines.count == 5, "the README promises five lines: \(lines)")
        let cli = try CLI.locate()
        let scratch = try Scratch()
        defer { scratch.remove() }
        let port = try Self.freePort()
        // `concord` on PATH, as a reader has it: the backgrounded relay is then a job of
        // the script itself, which stops it on the way out.
        try FileManager.default.createDirectory(atPath: scratch.file("bin"), withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: scratch.file("bin/concord"), withDestinationPath: cli.binary)
        let script = """
            set -euo pipefail
            export PATH="\(scratch.file("bin")):$PATH"
            trap 'kill $(jobs -p) 2>/dev/null || true; wait' EXIT

            """ + lines.joined(separator: "\n").replacingOccurrences(of: "8080", with: "\(port)") + "\n"
        try script.write(toFile: scratch.file("quickstart.sh"), atomically: true, encoding: .utf8)
        let result = try CLI.execute("/bin/bash", [scratch.file("quickstart.sh")], in: scratch.path)
        #expect(result.status == 0, "\(result.stdout)\n\(result.stderr)")
        #expect(result.stdout.contains("Buy milk"), "office does not list the todo:\n\(result.stdout)\n\(result.stderr)")
        // Both stores hold the same state.
        let school = try cli.run(["--store", scratch.file("school"), "list", "todos", "--json"])
        let office = try cli.run(["--store", scratch.file("office"), "list", "todos", "--json"])
        #expect(school.status == 0 && office.status == 0)
        #expect(school.stdout == office.stdout && school.stdout.contains("Buy milk"), "\(school.stdout)\n\(office.stdout)")
    }
}

import ArgumentParser
import Concord
import ConcordSync
import Foundation

struct PeerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "peer",
        abstract: "Sync directly with other devices, without a relay.",
        discussion: """
            Peers authenticate each other as members of the space (device keys and \\
            membership, over an encrypted channel, `Specs/peer-protocol.md`), then send each \\
            other what the other lacks, including bundles of other devices they carry.

            Examples:
              concord peer serve                       # on one device
              concord sync peer://192.168.1.20:7420    # on another
              concord sync --lan --watch               # on every device of a classroom
            """,
        subcommands: [PeerServe.self]
    )
}

struct PeerServe: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Accept peers and sync with them live until SIGINT or SIGTERM.",
        discussion: """
            Listens on --port (7420 by default; 0 for any free port), prints \\
            `listening on peer://HOST:PORT` once bound, and advertises itself on the local \\
            network (DNS-SD `_concord._tcp` over multicast DNS) unless --no-advertise. The \\
            advertisement names a random instance and carries a rotating tag only members \\
            can recognise: a stranger cannot tell which space it is. Every member that \\
            connects gets what it lacks and stays in sync live; writes made on this store by \\
            other `concord` commands are sent within a second. Status changes and \\
            connections are printed.

            Examples:
              concord peer serve
              concord peer serve --port 0 --no-advertise
              concord sync peer://THIS-HOST:7420       # on another device
            """
    )
    @OptionGroup var options: StoreOptions
    @Option(help: "The TCP port (0: any free port).") var port = PeerEndpoint.defaultPort
    @Option(help: "The address to listen on.") var host = "0.0.0.0"
    @Flag(help: "Do not advertise on the local network (peers then need peer://HOST:PORT).") var noAdvertise = false

    func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port must be 0...65535") }
    }

    func run() async throws {
        let replica = try options.open()
        let peering = SyncEngine.Peering(listenPort: port, listenHost: host, advertise: !noAdvertise)
        let engine = try SyncEngine(replica: replica, peering: peering)
        let signal = try await runUntilSignal(engine, storePath: options.path) {
            guard let bound = await waitForListeningPort(engine) else { return }
            writeLine("listening on peer://\(host):\(bound)")
            guard !noAdvertise else { return }
            // Discovery starts after the port is bound (opening a multicast socket per
            // interface); wait for it instead of reporting whatever is there at this instant.
            switch await waitForDiscovery(engine) {
            case .started(let name): writeLine("advertising as \(name)")
            case .failed(let message): Output.error("concord: not advertised: \(message)")
            case .timedOut: Output.error("concord: not advertised: LAN discovery did not start within 60 s")
            }
        }
        Output.error("concord: peer serving stopped (signal \(signal))")
    }
}

struct Peers: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List the members of this space found on the local network.",
        discussion: """
            Browses multicast DNS (`_concord._tcp`) for --timeout seconds and prints the \\
            devices whose advertisement carries this space's tag (the others are counted, \\
            or listed with --all). Each line: instance, address:port. Sync with one through \\
            `concord sync peer://ADDRESS:PORT`, or with all through `concord sync --lan`.

            Examples:
              concord peers
              concord peers --json --timeout 5
            """
    )
    @OptionGroup var options: StoreOptions
    @Flag(help: "Print a JSON array of {\"instance\", \"host\", \"port\", \"addresses\", \"member\"}.") var json = false
    @Flag(help: "Also list Concord devices of other spaces (their advertisement is opaque).") var all = false
    @Option(help: "Seconds to browse.") var timeout: Double = 3

    func validate() throws {
        if timeout <= 0 { throw ValidationError("--timeout must be positive") }
    }

    func run() async throws {
        let replica = try options.open()
        let discovery = LANDiscovery(keys: try PeerSpaceKeys.derive(from: replica.membership))
        try await discovery.start(advertisingPort: nil, browsing: true)
        try await Task.sleep(for: .seconds(timeout))
        let found = await discovery.peers
        await discovery.stop()
        let shown = found.filter { all || $0.isMember }
        if json {
            let items = shown.map { peer in
                "{\"addresses\":[" + peer.addresses.map(JSONText.string).joined(separator: ",") + "],\"host\":" + JSONText.string(peer.host)
                    + ",\"instance\":" + JSONText.string(peer.instance) + ",\"member\":\(peer.isMember),\"port\":\(peer.port)}"
            }
            print("[" + items.joined(separator: ",") + "]")
            return
        }
        for peer in shown {
            print("\(peer.instance)  \(peer.addresses.first ?? peer.host):\(peer.port)\(peer.isMember ? "" : "  (not of this space)")")
        }
        let others = found.count - found.filter(\.isMember).count
        if shown.isEmpty { print("no members of this space found within \(timeout) s") }
        if !all && others > 0 {
            print("\(others) other Concord device\(others == 1 ? "" : "s") (other spaces) not shown; --all lists them")
        }
    }
}

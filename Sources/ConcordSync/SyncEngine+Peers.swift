import Concord
import ConcordCrypto
import Foundation
import Logging

extension SyncEngine {
    /// Which peers an engine dials, discovers and accepts (`Specs/peer-protocol.md`).
    ///
    /// ```swift
    /// let fixed = Peering(endpoints: [PeerEndpoint("peer://10.0.0.2:7420")!])
    /// let lan = Peering.lan(listenPort: 7420)     // advertise, discover, accept, dial
    /// ```
    public struct Peering: Sendable {
        /// Peers dialled and kept connected (live) or synced with once (``syncNow()``).
        public var endpoints: [PeerEndpoint]
        /// Browse the local network (mDNS) for members and connect to each.
        public var discover: Bool
        /// Accept peer connections on this port (0: any free port); `nil` to not listen.
        public var listenPort: Int?
        /// The address to listen on.
        public var listenHost: String
        /// Advertise the listening port on the local network (needs ``listenPort``).
        public var advertise: Bool
        /// Seconds ``syncNow()`` browses before syncing with the members found.
        public var discoveryTimeout: Double
        /// Limits and timeouts of peer connections.
        public var options: PeerOptions
        /// Who may connect; the space's certificate check by default.
        public var authorizer: (any PeerAuthorizer)?
        /// The mDNS port (5353).
        public var mdnsPort: Int

        /// Creates a configuration.
        /// - Parameters:
        ///   - endpoints: Peers to dial.
        ///   - discover: Whether to browse the LAN for members.
        ///   - listenPort: Port to accept connections on; `nil` for none.
        ///   - listenHost: Address to listen on (all IPv4 interfaces by default).
        ///   - advertise: Whether to advertise the listening port by mDNS.
        ///   - discoveryTimeout: Seconds a one-shot sync browses first.
        ///   - options: Peer connection tunables.
        ///   - authorizer: Who may connect.
        ///   - mdnsPort: The mDNS port.
        public init(
            endpoints: [PeerEndpoint] = [], discover: Bool = false, listenPort: Int? = nil, listenHost: String = "0.0.0.0",
            advertise: Bool = true, discoveryTimeout: Double = 3, options: PeerOptions = PeerOptions(),
            authorizer: (any PeerAuthorizer)? = nil, mdnsPort: Int = LANDiscovery.mdnsPort
        ) {
            self.endpoints = endpoints
            self.discover = discover
            self.listenPort = listenPort
            self.listenHost = listenHost
            self.advertise = advertise
            self.discoveryTimeout = discoveryTimeout
            self.options = options
            self.authorizer = authorizer
            self.mdnsPort = mdnsPort
        }

        /// Everything on the local network: listen on `listenPort`, advertise it,
        /// discover members and connect to them.
        /// - Parameters:
        ///   - listenPort: The port to accept connections on (0: any free port).
        /// - Returns: The configuration.
        public static func lan(listenPort: Int = PeerEndpoint.defaultPort) -> Peering {
            Peering(discover: true, listenPort: listenPort, advertise: true)
        }
    }
}

extension SyncDriver {
    /// The live peer work: listen and advertise, keep the given endpoints connected, and
    /// connect to members as discovery finds them, until cancelled.
    func runPeers() async {
        guard let peers, let peering else { return }
        // Link statuses are applied in the order the node reports them (a Task per report
        // could apply a connection's "syncing" after its "error", leaving it syncing).
        let (statusUpdates, statusSink) = AsyncStream.makeStream(of: (link: String, status: Status).self)
        defer { statusSink.finish() }
        await peers.setHandlers(status: { link, status in statusSink.yield((link, status)) }, events: nil)
        if let port = peering.listenPort {
            do {
                let bound = try await peers.listen(host: peering.listenHost, port: port)
                if peering.advertise || peering.discover {
                    _ = try await startDiscovery(advertising: peering.advertise ? bound : nil, browsing: peering.discover)
                }
            } catch {
                setLinkStatus("listen", .error((error as? ConcordSyncError)?.message ?? "\(error)"))
            }
        } else if peering.discover {
            do {
                _ = try await startDiscovery(advertising: nil, browsing: true)
            } catch {
                setLinkStatus("discovery", .error((error as? ConcordSyncError)?.message ?? "\(error)"))
            }
        }
        await withDiscardingTaskGroup { group in
            group.addTask {
                for await update in statusUpdates { await self.setLinkStatus(update.link, update.status) }
            }
            for endpoint in peering.endpoints {
                group.addTask { await peers.maintain(endpoint) }
            }
            guard peering.discover, let discovery = self.discovery else { return }
            group.addTask {
                var dialled: Set<PeerEndpoint> = []
                await withDiscardingTaskGroup { dials in
                    for await found in await discovery.updates() {
                        for peer in found where peer.isMember {
                            // Two members that both discover dial each other; the node keeps
                            // one connection per pair (PeerNode.runLive).
                            guard let endpoint = peer.endpoint, dialled.insert(endpoint).inserted else { continue }
                            dials.addTask { await peers.maintain(endpoint) }
                        }
                    }
                }
            }
        }
    }

    /// Starts LAN discovery (once).
    func startDiscovery(advertising port: Int?, browsing: Bool) async throws -> LANDiscovery {
        if let discovery { return discovery }
        guard let peering else { throw ConcordSyncError(.discoveryFailed, "this engine has no peering configuration") }
        // Its own label, so that its chatter can be turned on alone (`CONCORD_LOG=debug:concord.discovery`).
        let discovery = LANDiscovery(
            keys: try PeerSpaceKeys.derive(from: replica.membership), port: peering.mdnsPort, logger: Logger(label: "concord.discovery"))
        try await discovery.start(advertisingPort: port, browsing: browsing)
        self.discovery = discovery
        return discovery
    }

    /// Stops listening, discovery and every peer connection.
    func stopPeers() async {
        await discovery?.stop()
        discovery = nil
        await peers?.stop()
    }

    /// One exchange with every configured endpoint and (with discovery) every member found
    /// within ``Peering/discoveryTimeout``. A peer that fails is reported in the summary;
    /// the call throws only when every peer failed.
    func syncPeersOnce(into summary: inout Summary) async throws {
        guard let peers, let peering else { return }
        var targets = peering.endpoints.map { ("peer \($0)", $0) }
        if peering.discover {
            let discovery = try await startDiscovery(advertising: nil, browsing: true)
            try await Task.sleep(for: .seconds(peering.discoveryTimeout))
            for peer in await discovery.peers where peer.isMember {
                if let endpoint = peer.endpoint, !targets.contains(where: { $0.1 == endpoint }) {
                    targets.append(("peer \(peer.instance)", endpoint))
                }
            }
        }
        var firstError: (any Error)?
        for (link, endpoint) in targets {
            setLinkStatus(link, .syncing(SyncProgress()))
            do {
                let result = try await peers.sync(with: endpoint)
                summary.peers.append(result)
                if result.received.applied > 0 { signal.notify() }
                setLinkStatus(link, .synced)
            } catch {
                let message = (error as? ConcordSyncError)?.message ?? "\(error)"
                summary.peerFailures.append("\(endpoint): \(message)")
                setLinkStatus(link, .error(message))
                firstError = firstError ?? error
            }
        }
        if let firstError, summary.peers.isEmpty, client == nil { throw firstError }
    }
}

extension SyncEngine.Status {
    /// The engine's status from its links': `attention` if any link found this device
    /// needing its owner (its clock, its history: nothing else matters until that is put
    /// right), else `syncing` while any link syncs (progress summed), else `error` if any
    /// link reports one, else `synced` if any link is synced, else `offline`.
    /// - Parameters:
    ///   - links: Each link's status.
    /// - Returns: The combined status.
    public static func combining(_ links: [SyncEngine.Status]) -> SyncEngine.Status {
        var progress: SyncEngine.SyncProgress?
        var error: String?
        var attention: ReplicaProblem?
        var synced = false
        for status in links {
            switch status {
            case .attention(let problem): attention = attention ?? problem
            case .syncing(let part):
                var sum = progress ?? SyncEngine.SyncProgress(bundlesTotal: 0)
                sum.bundlesReceived += part.bundlesReceived
                sum.bytesReceived += part.bytesReceived
                sum.bundlesTotal = part.bundlesTotal.flatMap { total in sum.bundlesTotal.map { $0 + total } }
                sum.bytesTotal = part.bytesTotal.map { total in (sum.bytesTotal ?? 0) + total }
                // A snapshot's chunks, while a link loads one (`Specs/snapshots.md` §4.5).
                sum.chunksReceived += part.chunksReceived
                if let chunks = part.chunksTotal { sum.chunksTotal = (sum.chunksTotal ?? 0) + chunks }
                progress = sum
            case .error(let message): error = error ?? message
            case .synced: synced = true
            case .offline: break
            }
        }
        if let attention { return .attention(attention) }
        if let progress { return .syncing(progress) }
        if let error { return .error(error) }
        return synced ? .synced : .offline
    }
}

import ConcordCrypto
import Foundation
import Logging
import NIOCore
import NIOPosix
import Synchronization

/// A Concord device found on the local network by DNS-SD over multicast DNS.
///
/// ```swift
/// for peer in await discovery.peers where peer.isMember {
///     print(peer.instance, peer.endpoint!)   // concord-3fa2b1c4 peer://10.0.0.2:7420
/// }
/// ```
public struct DiscoveredPeer: Sendable, Hashable, CustomStringConvertible {
    /// The DNS-SD instance name (random per advertiser, says nothing about the space).
    public var instance: String
    /// The host name of its SRV record, for example `concord-3fa2b1c4.local`.
    public var host: String
    /// The TCP port of its SRV record.
    public var port: Int
    /// Its IPv4 addresses (A records, else the address the answer came from).
    public var addresses: [String]
    /// Whether its tag matched this device's discovery key: a member of this space.
    public var isMember: Bool

    /// Where to connect: the first address and the port.
    public var endpoint: PeerEndpoint? {
        addresses.first.map { PeerEndpoint(host: $0, port: port) }
    }

    /// `concord-3fa2b1c4 at 10.0.0.2:7420 (member)`.
    public var description: String {
        "\(instance) at \(addresses.first ?? host):\(port) (\(isMember ? "member" : "not of this space"))"
    }
}

/// LAN discovery by standard DNS-SD over multicast DNS (RFC 6762, RFC 6763), service type
/// `_concord._tcp.local`, on SwiftNIO UDP sockets: it advertises this device's peer port
/// and browses for others, so Bonjour and Avahi see Concord devices and Concord sees theirs.
///
/// The advertisement names a random instance (`concord-<8 hex>`) and carries, in its TXT
/// record, `v=1`, a nonce `n` and a tag `t` (``DiscoveryTag``) that only members of the
/// space can match: a stranger learns that a Concord device listens there, not which
/// space it belongs to (`Specs/peer-protocol.md` §2).
///
/// ```swift
/// let discovery = LANDiscovery(keys: try PeerSpaceKeys.derive(from: replica.membership))
/// try await discovery.start(advertisingPort: 7420, browsing: true)
/// for await peers in await discovery.updates() { print(peers.filter(\.isMember)) }
/// await discovery.stop()
/// ```
public actor LANDiscovery {
    /// The DNS-SD service type.
    public static let serviceType = "_concord._tcp.local"
    /// The mDNS port.
    public static let mdnsPort = 5353
    /// The IPv4 mDNS group.
    public static let groupAddress = "224.0.0.251"
    /// TTL of every record this device advertises, in seconds.
    public static let recordTTL: UInt32 = 120

    let keys: PeerSpaceKeys
    let logger: Logger
    let port: Int
    /// This device's instance label (changed only after a name conflict).
    public private(set) var instanceLabel: String
    var advertisedPort: Int?
    var browsing = false
    var interfaces: [Interface] = []
    var tasks: [Task<Void, Never>] = []
    var nonce = DiscoveryTag.freshNonce()
    var window = DiscoveryTag.window()
    var probing = false
    var conflict = false
    /// Records heard, by owner name and type.
    var cache: [CacheKey: [CachedRecord]] = [:]
    /// Where each answer came from (fallback address of an instance without A records).
    var sources: [String: String] = [:]
    var resolved: [DiscoveredPeer] = []
    var observers: [UUID: AsyncStream<[DiscoveredPeer]>.Continuation] = [:]

    struct Interface {
        let name: String
        let address: [UInt8]
        let channel: any Channel
    }

    struct CacheKey: Hashable {
        let name: DNSName
        let type: UInt16
    }

    struct CachedRecord {
        var record: DNSRecord
        var expires: ContinuousClock.Instant
    }

    /// Creates a discovery instance; nothing is sent until ``start(advertisingPort:browsing:)``.
    /// - Parameters:
    ///   - keys: The space's peer keys (the discovery key makes and matches tags).
    ///   - port: The mDNS port (5353; tests may use another to stay among themselves).
    ///   - logger: Where debug logs go.
    public init(keys: PeerSpaceKeys, port: Int = LANDiscovery.mdnsPort, logger: Logger = Logger(label: "concord.discovery")) {
        self.keys = keys
        self.port = port
        self.logger = logger
        self.instanceLabel = Self.randomLabel()
    }

    static func randomLabel() -> String {
        "concord-" + SecureRandom.bytes(count: 4).map { String(format: "%02x", $0) }.joined()
    }

    /// The full instance name, for example `concord-3fa2b1c4._concord._tcp.local`.
    public var instanceName: String { instanceLabel + "." + Self.serviceType }

    /// Members and other Concord devices resolved so far (this device excluded).
    public var peers: [DiscoveredPeer] { resolved }

    /// The resolved devices now and after every change; ends when the iterating task is
    /// cancelled.
    public func updates() -> AsyncStream<[DiscoveredPeer]> {
        let (stream, continuation) = AsyncStream.makeStream(of: [DiscoveredPeer].self, bufferingPolicy: .bufferingNewest(1))
        let id = UUID()
        observers[id] = continuation
        continuation.yield(resolved)
        continuation.onTermination = { [weak self] _ in Task { await self?.removeObserver(id) } }
        return stream
    }

    func removeObserver(_ id: UUID) { observers[id] = nil }

    /// Opens an mDNS socket on every IPv4 multicast interface (loopback excluded), then
    /// probes for and announces this device's records (when `advertisingPort` is given)
    /// and queries for other devices (when `browsing`).
    /// - Parameters:
    ///   - advertisingPort: The peer port to advertise; `nil` to advertise nothing.
    ///   - browsing: Whether to look for other devices.
    /// - Throws: ``ConcordSyncError`` `.discoveryFailed` when no interface can be used.
    public func start(advertisingPort: Int?, browsing: Bool) async throws {
        guard interfaces.isEmpty else { return }
        advertisedPort = advertisingPort
        self.browsing = browsing
        let devices: [NIONetworkDevice]
        do {
            devices = try System.enumerateDevices()
        } catch {
            throw ConcordSyncError(
                .discoveryFailed,
                "cannot list the network interfaces (\(error)); LAN discovery is off, connect with peer://HOST:PORT instead")
        }
        var failures: [String] = []
        for device in devices where device.multicastSupported {
            guard case .v4(let v4)? = device.address, v4.address.sin_addr.s_addr != 0 else { continue }
            let bytes = withUnsafeBytes(of: v4.address.sin_addr.s_addr) { Array($0) }
            guard bytes[0] != 127 else { continue }
            do {
                interfaces.append(
                    Interface(name: device.name, address: bytes, channel: try await open(device, address: v4.address.sin_addr)))
            } catch {
                failures.append("\(device.name): \(error)")
            }
        }
        guard !interfaces.isEmpty else {
            throw ConcordSyncError(
                .discoveryFailed,
                "no network interface could join multicast DNS\(failures.isEmpty ? " (none with an IPv4 address and multicast)" : ": " + failures.joined(separator: "; ")); LAN discovery is off, connect with peer://HOST:PORT instead"
            )
        }
        logger.debug("mDNS started", metadata: ["interfaces": "\(interfaces.map(\.name))", "instance": "\(instanceLabel)"])
        if advertisingPort != nil {
            tasks.append(Task { [weak self] in await self?.advertiseLoop() })
        }
        if browsing {
            tasks.append(Task { [weak self] in await self?.browseLoop() })
        }
    }

    /// Sends goodbyes (records with TTL 0) for what was advertised, then closes the sockets.
    public func stop() async {
        for task in tasks { task.cancel() }
        tasks = []
        if advertisedPort != nil {
            for interface in interfaces {
                var goodbye = records(for: interface)
                for index in goodbye.indices { goodbye[index].ttl = 0 }
                send(DNSMessage(flags: DNSMessage.responseFlags, answers: goodbye), on: interface)
            }
            try? await Task.sleep(for: .milliseconds(50))
        }
        for interface in interfaces { try? await interface.channel.close() }
        interfaces = []
        for observer in observers.values { observer.finish() }
        observers = [:]
    }

    // MARK: - Sockets

    /// One UDP socket per interface: bound to `0.0.0.0:5353` with address and port reuse
    /// (Avahi, Bonjour and other programs share the port), joined to 224.0.0.251 on that
    /// interface, sending through it with IP TTL 255 (RFC 6762 §11).
    func open(_ device: NIONetworkDevice, address: in_addr) async throws -> any Channel {
        let name = device.name
        let handler = Receiver { [weak self] envelope in
            Task { await self?.received(envelope, deviceName: name) }
        }
        let channel = try await DatagramBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelOption(.socketOption(.so_reuseaddr), value: 1)
            .channelOption(ChannelOptions.socketOption(NIOBSDSocket.Option(rawValue: SO_REUSEPORT)), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    #if os(Linux)
                    // SO_BINDTOIFINDEX (62): this socket receives only what arrives on its own
                    // interface. Without it the sockets of several interfaces, all on port 5353
                    // with SO_REUSEPORT, form one reuseport group, and the kernel hands each
                    // sender's datagrams to one socket of the group chosen by a hash: a device on
                    // two networks then heard a neighbour on the wrong interface, answered on
                    // that one, and the neighbour never found it (PeerLANTests, chain A–B–C).
                    // Older kernels lack the option: discovery works as before there.
                    try? channel.syncOptions?.setOption(
                        ChannelOptions.socketOption(NIOBSDSocket.Option(rawValue: 62)), value: SocketOptionValue(device.interfaceIndex))
                    #endif
                    try channel.pipeline.syncOperations.addHandler(handler)
                }
            }
            .bind(host: "0.0.0.0", port: port).get()
        do {
            #if os(Linux)
            // IP_MULTICAST_ALL = 0: this socket hears only the groups it joined itself, on
            // its own interface (Linux otherwise delivers every joined group to every socket).
            try await channel.setOption(ChannelOptions.ipOption(NIOBSDSocket.Option(rawValue: 49)), value: 0).get()
            #endif
            try await (channel as! any MulticastChannel).joinGroup(
                try SocketAddress(ipAddress: Self.groupAddress, port: port), device: device
            ).get()
            if let provider = channel as? any SocketOptionProvider {
                try await provider.setIPMulticastIF(address).get()
                try await provider.setIPMulticastTTL(255).get()
                try await provider.setIPMulticastLoop(1).get()
            }
        } catch {
            try? await channel.close()
            throw error
        }
        return channel
    }

    /// Hands received datagrams to the actor.
    final class Receiver: ChannelInboundHandler, Sendable {
        typealias InboundIn = AddressedEnvelope<ByteBuffer>
        let onPacket: @Sendable (AddressedEnvelope<ByteBuffer>) -> Void
        init(onPacket: @escaping @Sendable (AddressedEnvelope<ByteBuffer>) -> Void) { self.onPacket = onPacket }
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            onPacket(unwrapInboundIn(data))
        }
        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            // A failed send or an ICMP error on a datagram socket; the socket stays usable.
        }
    }

    func send(_ message: DNSMessage, on interface: Interface, to destination: SocketAddress? = nil) {
        let bytes = message.encoded
        guard let target = destination ?? (try? SocketAddress(ipAddress: Self.groupAddress, port: port)) else { return }
        var buffer = interface.channel.allocator.buffer(capacity: bytes.count)
        buffer.writeBytes(bytes)
        let logger = self.logger
        let name = interface.name
        interface.channel.writeAndFlush(AddressedEnvelope(remoteAddress: target, data: buffer)).whenFailure { error in
            logger.debug("mDNS send failed", metadata: ["on": "\(name)", "to": "\(target)", "error": "\(error)"])
        }
    }

    // MARK: - Advertising

    var serviceName: DNSName { DNSName(Self.serviceType) }
    var instanceFullName: DNSName { DNSName([instanceLabel] + serviceName.labels) }
    var hostName: DNSName { DNSName([instanceLabel, "local"]) }
    static let servicesMetaName = DNSName("_services._dns-sd._udp.local")

    /// The TXT strings: `v=1`, `n=<nonce hex>`, `t=<tag hex>`.
    func txtStrings() -> [[UInt8]] {
        let tag = DiscoveryTag.make(key: keys.discovery, window: window, nonce: nonce)
        return [Array("v=1".utf8), Array("n=\(hexString(nonce))".utf8), Array("t=\(hexString(tag))".utf8)]
    }

    /// Every record advertised on `interface` (its own address in the A record).
    func records(for interface: Interface) -> [DNSRecord] {
        guard let advertisedPort else { return [] }
        let ttl = Self.recordTTL
        return [
            DNSRecord(name: serviceName, type: DNSType.ptr, cacheFlush: false, ttl: ttl, data: .ptr(instanceFullName)),
            DNSRecord(
                name: instanceFullName, type: DNSType.srv, cacheFlush: true, ttl: ttl,
                data: .srv(priority: 0, weight: 0, port: UInt16(advertisedPort), target: hostName)),
            DNSRecord(name: instanceFullName, type: DNSType.txt, cacheFlush: true, ttl: ttl, data: .txt(txtStrings())),
            DNSRecord(name: hostName, type: DNSType.a, cacheFlush: true, ttl: ttl, data: .a(interface.address)),
            DNSRecord(name: Self.servicesMetaName, type: DNSType.ptr, cacheFlush: false, ttl: ttl, data: .ptr(serviceName)),
        ]
    }

    /// Probes (RFC 6762 §8.1: three queries 250 ms apart, a new name on conflict), then
    /// announces twice a second apart; afterwards keeps the tag fresh (a new nonce and tag
    /// each window, announced again) until cancelled.
    func advertiseLoop() async {
        var attempts = 0
        while !Task.isCancelled {
            probing = true
            conflict = false
            for round in 0..<3 {
                for interface in interfaces {
                    let all = records(for: interface)
                    let probe = DNSMessage(
                        questions: [
                            DNSQuestion(name: instanceFullName, type: DNSType.any, unicastResponse: round == 0),
                            DNSQuestion(name: hostName, type: DNSType.any, unicastResponse: round == 0),
                        ],
                        authorities: all.filter { $0.name == instanceFullName || $0.name == hostName })
                    send(probe, on: interface)
                }
                try? await Task.sleep(for: .milliseconds(250))
            }
            probing = false
            if !conflict { break }
            attempts += 1
            logger.info("mDNS name conflict; choosing another", metadata: ["name": "\(instanceLabel)"])
            instanceLabel = Self.randomLabel()
            if attempts > 10 { try? await Task.sleep(for: .seconds(5)) }
        }
        for _ in 0..<2 where !Task.isCancelled {
            announce()
            try? await Task.sleep(for: .seconds(1))
        }
        while !Task.isCancelled {
            try? await Task.sleep(for: .seconds(5))
            let now = DiscoveryTag.window()
            if now != window {
                window = now
                nonce = DiscoveryTag.freshNonce()
                for _ in 0..<2 where !Task.isCancelled {
                    announce()
                    try? await Task.sleep(for: .seconds(1))
                }
            }
        }
    }

    /// Sends every advertised record, unsolicited, on every interface.
    func announce() {
        for interface in interfaces {
            send(DNSMessage(flags: DNSMessage.responseFlags, answers: records(for: interface)), on: interface)
        }
    }

    /// Answers a query about this device (RFC 6762 §6): the records asked for, the rest of
    /// the service's records as additional records, none the asker already listed as known
    /// answers (§7.1). Shared records wait 20–120 ms, legacy unicast queries (source port
    /// other than 5353) get a unicast reply with their id.
    func answer(_ query: DNSMessage, from source: SocketAddress, on interface: Interface) async {
        let ours = records(for: interface)
        guard !ours.isEmpty else { return }
        var answers: [DNSRecord] = []
        for question in query.questions {
            for record in ours where record.name == question.name && (question.type == record.type || question.type == DNSType.any) {
                if !answers.contains(where: { $0.sameData(as: record) }) { answers.append(record) }
            }
        }
        answers.removeAll { record in
            query.answers.contains { $0.sameData(as: record) && $0.ttl >= record.ttl / 2 }
        }
        guard !answers.isEmpty else { return }
        var additionals = ours.filter { record in
            !answers.contains { $0.sameData(as: record) } && record.name != Self.servicesMetaName
                && (answers.contains { $0.type == DNSType.ptr && $0.name == serviceName } || record.type == DNSType.a)
        }
        if answers.allSatisfy({ $0.name == Self.servicesMetaName }) { additionals = [] }
        let legacy = source.port != port
        if legacy {
            let capped = answers.map { record -> DNSRecord in
                var copy = record
                copy.ttl = min(copy.ttl, 10)
                copy.cacheFlush = false
                return copy
            }
            send(
                DNSMessage(id: query.id, flags: DNSMessage.responseFlags, questions: query.questions, answers: capped), on: interface,
                to: source)
            return
        }
        if answers.contains(where: { !$0.cacheFlush }) {
            try? await Task.sleep(for: .milliseconds(Int.random(in: 20...120)))
        }
        send(DNSMessage(flags: DNSMessage.responseFlags, answers: answers, additionals: additionals), on: interface)
    }

    // MARK: - Browsing

    /// Queries for the service at 0, 1, 2, 4, … s, then every 20 s; asks for the SRV, TXT
    /// and A records of instances heard of but not resolved.
    func browseLoop() async {
        var interval = 1.0
        while !Task.isCancelled {
            query([DNSQuestion(name: serviceName, type: DNSType.ptr)])
            try? await Task.sleep(for: .milliseconds(150))
            var missing: [DNSQuestion] = []
            for ptr in live(serviceName, DNSType.ptr) {
                guard case .ptr(let instance) = ptr.data, instance != instanceFullName else { continue }
                if live(instance, DNSType.srv).isEmpty { missing.append(DNSQuestion(name: instance, type: DNSType.srv)) }
                if live(instance, DNSType.txt).isEmpty { missing.append(DNSQuestion(name: instance, type: DNSType.txt)) }
                for srv in live(instance, DNSType.srv) {
                    if case let .srv(_, _, _, target) = srv.data, live(target, DNSType.a).isEmpty {
                        missing.append(DNSQuestion(name: target, type: DNSType.a))
                    }
                }
            }
            if !missing.isEmpty { query(missing) }
            try? await Task.sleep(for: .seconds(interval))
            interval = min(interval * 2, 20)
            resolve()
        }
    }

    func query(_ questions: [DNSQuestion]) {
        logger.debug(
            "mDNS query",
            metadata: ["questions": "\(questions.map { "\($0.name) \($0.type)" })", "interfaces": "\(interfaces.map(\.name))"])
        for interface in interfaces { send(DNSMessage(questions: questions), on: interface) }
    }

    /// Records of `name` and `type` that have not expired.
    func live(_ name: DNSName, _ type: UInt16) -> [DNSRecord] {
        let now = ContinuousClock.now
        return (cache[CacheKey(name: name, type: type)] ?? []).filter { $0.expires > now }.map(\.record)
    }

    /// Stores the records of a response (RFC 6762 §10: TTL 0 removes, the cache-flush bit
    /// replaces what the same name and type held).
    func store(_ records: [DNSRecord], source: String) {
        let now = ContinuousClock.now
        var flushed: Set<CacheKey> = []
        for record in records where [DNSType.ptr, DNSType.srv, DNSType.txt, DNSType.a].contains(record.type) {
            let key = CacheKey(name: record.name, type: record.type)
            var entries = cache[key] ?? []
            if record.cacheFlush && !flushed.contains(key) {
                entries.removeAll { $0.record.data != record.data }
                flushed.insert(key)
            }
            entries.removeAll { $0.record.data == record.data }
            if record.ttl > 0 {
                entries.append(CachedRecord(record: record, expires: now + .seconds(Int(record.ttl))))
            }
            cache[key] = entries
            if record.type == DNSType.srv || record.type == DNSType.txt { sources[record.name.key] = source }
        }
    }

    /// Rebuilds the list of resolved devices and tells observers when it changed.
    func resolve() {
        var found: [DiscoveredPeer] = []
        for ptr in live(serviceName, DNSType.ptr) {
            guard case .ptr(let instance) = ptr.data, instance != instanceFullName, let srv = live(instance, DNSType.srv).first,
                case let .srv(_, _, port, target) = srv.data
            else { continue }
            var strings: [String: String] = [:]
            for txt in live(instance, DNSType.txt) {
                if case .txt(let entries) = txt.data {
                    for entry in entries {
                        let text = String(decoding: entry, as: UTF8.self)
                        if let equals = text.firstIndex(of: "=") {
                            strings[String(text[..<equals])] = String(text[text.index(after: equals)...])
                        }
                    }
                }
            }
            var addresses = live(target, DNSType.a).compactMap { record -> String? in
                guard case .a(let bytes) = record.data else { return nil }
                return bytes.map(String.init).joined(separator: ".")
            }
            if addresses.isEmpty, let source = sources[instance.key] { addresses = [source] }
            guard !addresses.isEmpty else { continue }
            let member =
                strings["v"] == "1"
                && DiscoveryTag.matches(hexBytes(strings["t"] ?? ""), nonce: hexBytes(strings["n"] ?? ""), key: keys.discovery)
            found.append(
                DiscoveredPeer(
                    instance: instance.labels.first ?? "", host: target.description, port: Int(port), addresses: addresses.sorted(),
                    isMember: member))
        }
        found.sort { $0.instance < $1.instance }
        guard found != resolved else { return }
        logger.debug(
            "mDNS resolved", metadata: ["peers": "\(found.map { "\($0.instance) \($0.addresses):\($0.port) member=\($0.isMember)" })"])
        resolved = found
        for observer in observers.values { observer.yield(found) }
    }

    // MARK: - Receiving

    func received(_ envelope: AddressedEnvelope<ByteBuffer>, deviceName: String) async {
        guard let interface = interfaces.first(where: { $0.name == deviceName }) else { return }
        let message: DNSMessage
        do {
            message = try DNSMessage(bytes: Array(envelope.data.readableBytesView))
        } catch {
            return
        }
        if message.isResponse {
            let records = message.answers + message.additionals
            logger.debug(
                "mDNS response",
                metadata: [
                    "from": "\(envelope.remoteAddress)", "on": "\(deviceName)",
                    "records": "\(records.map { "\($0.name) \($0.type) ttl=\($0.ttl)" })",
                ])
            if probing {
                let ours = self.records(for: interface)
                for record in records where record.name == instanceFullName || record.name == hostName {
                    if !ours.contains(where: { $0.sameData(as: record) }) && record.type != DNSType.a { conflict = true }
                }
            }
            if browsing {
                store(records, source: envelope.remoteAddress.ipAddress ?? "")
                resolve()
            }
        } else if advertisedPort != nil && !probing {
            logger.debug(
                "mDNS query heard",
                metadata: [
                    "from": "\(envelope.remoteAddress)", "on": "\(deviceName)",
                    "questions": "\(message.questions.map { "\($0.name) \($0.type)" })",
                ])
            await answer(message, from: envelope.remoteAddress, on: interface)
        }
    }
}

/// Lowercase hex.
func hexString(_ bytes: some Sequence<UInt8>) -> String {
    bytes.map { String(format: "%02x", $0) }.joined()
}

/// Bytes of even-length hex text; empty for anything else.
func hexBytes(_ text: String) -> [UInt8] {
    let chars = Array(text.utf8)
    guard chars.count % 2 == 0 else { return [] }
    var out: [UInt8] = []
    for index in stride(from: 0, to: chars.count, by: 2) {
        guard let byte = UInt8(String(decoding: chars[index..<(index + 2)], as: UTF8.self), radix: 16) else { return [] }
        out.append(byte)
    }
    return out
}

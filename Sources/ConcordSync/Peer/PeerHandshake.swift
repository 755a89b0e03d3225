import Concord
import ConcordCrypto

/// The peer handshake (`Specs/peer-protocol.md` §3): three messages that give two
/// members of a space a mutually authenticated, encrypted channel, as pure state machines
/// (no I/O, randomness injectable for test vectors).
///
/// SIGMA-style: an X25519 exchange of ephemeral keys (`crypto_kx`), stream keys derived
/// from it, the transcript hash and the space's handshake key, and each side's device key
/// signing the transcript inside its encrypted authentication message. A stranger (no
/// handshake key) is dropped after the first message; a party that cannot sign for a
/// member's device key, or that ``PeerAuthorizer`` refuses, never gets past the second or
/// third.
///
/// ```swift
/// var initiator = PeerHandshake.Initiator(local: local)
/// var responder = PeerHandshake.Responder(local: remote)
/// let msg2 = try responder.receiveHello(initiator.hello)
/// let (msg3, mine) = try initiator.receive(msg2)
/// let theirs = try responder.receive(msg3)
/// let frame = mine.sender.push(PeerMessage.vector(v).encoded)   // theirs.receiver pulls it
/// ```
public enum PeerHandshake {
    /// `"concord-peer-v1"`: hashed into `h0`.
    public static let protocolName = Array("concord-peer-v1".utf8)
    /// `"CNCP"`: the first bytes of every connection.
    public static let magic = Array("CNCP".utf8)
    /// The protocol version this build speaks.
    public static let version: UInt8 = 1
    /// Bytes of the hello MAC.
    public static let macByteCount = 16
    /// Bytes of the hello (message 1).
    public static let helloByteCount = 4 + 1 + KeyExchange.publicKeyByteCount + macByteCount
    /// The largest handshake message accepted (before authentication).
    public static let maxMessageBytes = 4096
    /// The largest membership proof accepted.
    public static let maxProofBytes = 1024
    /// The signature context: `"concord-peer-auth-v1"` then `00`.
    public static let signatureContext = Array("concord-peer-auth-v1".utf8) + [0]
    /// Role byte of the responder's signature (`'R'`).
    public static let responderRole: UInt8 = 0x52
    /// Role byte of the initiator's signature (`'I'`).
    public static let initiatorRole: UInt8 = 0x49
    /// Label of the client-to-server stream key (19 bytes).
    public static let c2sLabel = Array("concord-peer-v1 c2s".utf8)
    /// Label of the server-to-client stream key (19 bytes).
    public static let s2cLabel = Array("concord-peer-v1 s2c".utf8)

    /// What one side brings to a handshake.
    public struct Local: Sendable {
        /// This device's key.
        public var device: Identity
        /// Its membership proof (today the certificate chain's bytes).
        public var proof: [UInt8]
        /// The space.
        public var spaceID: SpaceID
        /// The space's peer keys.
        public var keys: PeerSpaceKeys
        /// Who may connect.
        public var authorizer: any PeerAuthorizer

        /// Creates the local side.
        /// - Parameters:
        ///   - device: This device's key.
        ///   - proof: Its membership proof.
        ///   - spaceID: The space.
        ///   - keys: The space's peer keys.
        ///   - authorizer: Decides about the other side.
        public init(device: Identity, proof: [UInt8], spaceID: SpaceID, keys: PeerSpaceKeys, authorizer: any PeerAuthorizer) {
            self.device = device
            self.proof = proof
            self.spaceID = spaceID
            self.keys = keys
            self.authorizer = authorizer
        }

        /// The local side of a member: its device key, certificate chain, the space's peer
        /// keys and ``CertificatePeerAuthorizer``.
        /// - Parameters:
        ///   - membership: This device's membership.
        ///   - authorizer: Who may connect; the certificate check by default.
        /// - Throws: ``ConcordSyncError`` `.peerProtocol` if the keys cannot be derived.
        public init(membership: Membership, authorizer: (any PeerAuthorizer)? = nil) throws {
            self.init(
                device: membership.device, proof: (membership.certificates?.bytes ?? []), spaceID: membership.spaceID,
                keys: try PeerSpaceKeys.derive(from: membership),
                authorizer: authorizer ?? CertificatePeerAuthorizer(spaceID: membership.spaceID))
        }
    }

    /// A finished handshake: who the peer is, and the two streams.
    public struct Established: Sendable {
        /// The peer's device key.
        public let peer: PublicKey
        /// Its role, as the authorizer found it.
        public let peerRole: Role
        /// Encrypts what this side sends (its stream's first message, the authentication,
        /// is already used).
        public let sender: SecretStream.Sender
        /// Decrypts what the peer sends.
        public let receiver: SecretStream.Receiver
        /// The final transcript hash `h4`; equal on both sides.
        public let transcript: [UInt8]
    }

    /// The connecting side (the `crypto_kx` client).
    public struct Initiator: Sendable {
        let local: Local
        let ephemeral: KeyExchange.KeyPair
        let header: [UInt8]?
        /// Message 1: `"CNCP" | 01 | e_I | mac`.
        public let hello: [UInt8]

        /// Prepares the hello.
        /// - Parameters:
        ///   - local: This side.
        ///   - ephemeral: The ephemeral key pair; fresh by default (fixed only in vectors).
        ///   - streamHeader: The header of this side's stream; random by default.
        public init(local: Local, ephemeral: KeyExchange.KeyPair = KeyExchange.KeyPair(), streamHeader: [UInt8]? = nil) {
            self.local = local
            self.ephemeral = ephemeral
            self.header = streamHeader
            let body = PeerHandshake.magic + [PeerHandshake.version] + ephemeral.publicKey
            self.hello = body + PeerHandshake.helloMAC(key: local.keys.handshake, body)
        }

        /// Checks message 2 and answers with message 3.
        /// - Parameters:
        ///   - message: Message 2 as received.
        /// - Returns: Message 3 and the established channel.
        /// - Throws: ``ConcordSyncError`` `.peerProtocol` (malformed, not of this space,
        ///   altered, bad signature), `.peerRefused` (the authorizer said no, or the peer is
        ///   this device).
        public func receive(_ message: [UInt8]) throws -> (reply: [UInt8], established: Established) {
            let minimum = KeyExchange.publicKeyByteCount + SecretStream.headerByteCount + SecretStream.abytes
            guard message.count >= minimum, message.count <= PeerHandshake.maxMessageBytes else {
                throw ConcordSyncError(.peerProtocol, "the peer's handshake reply is \(message.count) bytes, not a valid reply; dropped")
            }
            let ephemeralR = Array(message[0..<32])
            let headerR = Array(message[32..<56])
            let sealed = Array(message[56...])
            let h1 = PeerHandshake.hash(PeerHandshake.h0 + hello)
            let h2 = PeerHandshake.hash(h1 + ephemeralR)
            let kx = try PeerHandshake.mapCrypto { try KeyExchange.clientSessionKeys(ephemeral, serverPublicKey: ephemeralR) }
            let (c2s, s2c) = try PeerHandshake.streamKeys(handshakeKey: local.keys.handshake, h2: h2, c2sKX: kx.send, s2cKX: kx.receive)
            let receiver = try PeerHandshake.mapCrypto { try SecretStream.Receiver(key: s2c, header: headerR) }
            let auth = try PeerHandshake.open(receiver, sealed, who: "the peer's authentication")
            let (peer, proof, signature) = try PeerHandshake.parseAuth(auth)
            let signed = PeerHandshake.signedMessage(role: PeerHandshake.responderRole, hash: h2, spaceID: local.spaceID, device: peer, proof: proof)
            guard peer.isValidSignature(signature, for: signed) else {
                throw ConcordSyncError(.peerProtocol, "the peer's handshake signature does not verify for device \(peer.hex.prefix(8)); the connection was tampered with or the peer is broken. Dropped")
            }
            let role = try PeerHandshake.admit(peer, proof: proof, local: local)
            let h3 = PeerHandshake.hash(h2 + headerR + sealed)
            let sender = try PeerHandshake.mapCrypto { try header.map { try SecretStream.Sender(key: c2s, header: $0) } ?? SecretStream.Sender(key: c2s) }
            let mine = PeerHandshake.signedMessage(role: PeerHandshake.initiatorRole, hash: h3, spaceID: local.spaceID, device: local.device.publicKey, proof: local.proof)
            let reply = sender.header + sender.push(PeerHandshake.authPayload(local, signature: local.device.sign(mine)))
            let h4 = PeerHandshake.hash(h3 + reply)
            return (reply, Established(peer: peer, peerRole: role, sender: sender, receiver: receiver, transcript: h4))
        }
    }

    /// The accepting side (the `crypto_kx` server).
    public struct Responder: Sendable {
        let local: Local
        let ephemeral: KeyExchange.KeyPair
        let header: [UInt8]?
        var state: State = .waitingForHello
        /// This side's stream once the hello was answered (for a refusal after message 3).
        var streamSender: SecretStream.Sender?

        enum State: Sendable {
            case waitingForHello
            case waitingForAuth(h3: [UInt8], receiverKey: SymmetricKey, sender: SecretStream.Sender)
            case done
        }

        /// Prepares to accept one connection.
        /// - Parameters:
        ///   - local: This side.
        ///   - ephemeral: The ephemeral key pair; fresh by default (fixed only in vectors).
        ///   - streamHeader: The header of this side's stream; random by default.
        public init(local: Local, ephemeral: KeyExchange.KeyPair = KeyExchange.KeyPair(), streamHeader: [UInt8]? = nil) {
            self.local = local
            self.ephemeral = ephemeral
            self.header = streamHeader
        }

        /// Checks the hello and answers with message 2.
        /// - Parameters:
        ///   - hello: Message 1 as received.
        /// - Returns: Message 2.
        /// - Throws: ``ConcordSyncError`` `.peerProtocol`: not a Concord peer, another
        ///   version, or not of this space (the MAC does not match).
        public mutating func receiveHello(_ hello: [UInt8]) throws -> [UInt8] {
            guard case .waitingForHello = state else { throw ConcordSyncError(.peerProtocol, "a second hello on one connection; dropped") }
            guard hello.count >= 5, hello[0..<4].elementsEqual(PeerHandshake.magic) else {
                throw ConcordSyncError(.peerProtocol, "the connecting party is not a Concord peer (no \"CNCP\" hello); dropped")
            }
            guard hello[4] == PeerHandshake.version else {
                throw ConcordSyncError(.peerProtocol, "the connecting peer speaks peer protocol version \(hello[4]), this device speaks \(PeerHandshake.version); update Concord on both devices")
            }
            guard hello.count == PeerHandshake.helloByteCount else {
                throw ConcordSyncError(.peerProtocol, "the hello is \(hello.count) bytes, not \(PeerHandshake.helloByteCount); dropped")
            }
            let body = Array(hello[0..<(hello.count - PeerHandshake.macByteCount)])
            let mac = PeerHandshake.helloMAC(key: local.keys.handshake, body)
            guard ConstantTime.isEqual(mac, hello[(hello.count - PeerHandshake.macByteCount)...]) else {
                throw ConcordSyncError(.peerProtocol, "the connecting party is not a member of this space (its hello is not keyed with the space's handshake key); dropped")
            }
            let ephemeralI = Array(hello[5..<37])
            let h1 = PeerHandshake.hash(PeerHandshake.h0 + hello)
            let h2 = PeerHandshake.hash(h1 + ephemeral.publicKey)
            let kx = try PeerHandshake.mapCrypto { try KeyExchange.serverSessionKeys(ephemeral, clientPublicKey: ephemeralI) }
            let (c2s, s2c) = try PeerHandshake.streamKeys(handshakeKey: local.keys.handshake, h2: h2, c2sKX: kx.receive, s2cKX: kx.send)
            let sender = try PeerHandshake.mapCrypto { try header.map { try SecretStream.Sender(key: s2c, header: $0) } ?? SecretStream.Sender(key: s2c) }
            let signed = PeerHandshake.signedMessage(role: PeerHandshake.responderRole, hash: h2, spaceID: local.spaceID, device: local.device.publicKey, proof: local.proof)
            let sealed = sender.push(PeerHandshake.authPayload(local, signature: local.device.sign(signed)))
            let h3 = PeerHandshake.hash(h2 + sender.header + sealed)
            state = .waitingForAuth(h3: h3, receiverKey: c2s, sender: sender)
            streamSender = sender
            return ephemeral.publicKey + sender.header + sealed
        }

        /// Checks message 3.
        /// - Parameters:
        ///   - message: Message 3 as received.
        /// - Returns: The established channel.
        /// - Throws: ``ConcordSyncError`` `.peerProtocol` (malformed, altered, bad
        ///   signature), `.peerRefused` (the authorizer said no, or the peer is this device).
        public mutating func receive(_ message: [UInt8]) throws -> Established {
            guard case let .waitingForAuth(h3, receiverKey, sender) = state else {
                throw ConcordSyncError(.peerProtocol, "an authentication message before the hello; dropped")
            }
            state = .done
            guard message.count >= SecretStream.headerByteCount + SecretStream.abytes, message.count <= PeerHandshake.maxMessageBytes else {
                throw ConcordSyncError(.peerProtocol, "the peer's authentication is \(message.count) bytes; dropped")
            }
            let headerI = Array(message[0..<24])
            let receiver = try PeerHandshake.mapCrypto { try SecretStream.Receiver(key: receiverKey, header: headerI) }
            let auth = try PeerHandshake.open(receiver, Array(message[24...]), who: "the peer's authentication")
            let (peer, proof, signature) = try PeerHandshake.parseAuth(auth)
            let signed = PeerHandshake.signedMessage(role: PeerHandshake.initiatorRole, hash: h3, spaceID: local.spaceID, device: peer, proof: proof)
            guard peer.isValidSignature(signature, for: signed) else {
                throw ConcordSyncError(.peerProtocol, "the peer's handshake signature does not verify for device \(peer.hex.prefix(8)); the connection was tampered with or the peer is broken. Dropped")
            }
            let role = try PeerHandshake.admit(peer, proof: proof, local: local)
            let h4 = PeerHandshake.hash(h3 + message)
            return Established(peer: peer, peerRole: role, sender: sender, receiver: receiver, transcript: h4)
        }

        /// After message 3 was refused by the authorizer: a `close(refused)` message on this
        /// side's stream (the initiator verified this side, so it can read why), or `nil`
        /// before the hello was answered.
        /// - Parameters:
        ///   - reason: Why.
        /// - Returns: The sealed message, the stream's last.
        public func refusal(_ reason: String) -> [UInt8]? {
            streamSender.map { $0.push(PeerMessage.close(.refused, reason).encoded, tag: .final) }
        }
    }

    // MARK: - The primitives of §3, shared by both sides

    /// `h0 = BLAKE2b-256("concord-peer-v1")`.
    public static let h0 = hash(protocolName)

    /// BLAKE2b-256.
    static func hash(_ bytes: [UInt8]) -> [UInt8] { Blake2b.hash(bytes).bytes }

    /// `BLAKE2b-128(key: handshake key, "CNCP" | 01 | e_I)`.
    public static func helloMAC(key: SymmetricKey, _ body: [UInt8]) -> [UInt8] {
        // Cannot throw: 16 bytes and a 32-byte key are valid.
        try! Blake2b.hash(body, outputLength: macByteCount, key: key.secret)
    }

    /// The two stream keys: `BLAKE2b-256(key: handshake key, label | h2 | kx key)`.
    /// - Parameters:
    ///   - handshakeKey: The space's handshake key.
    ///   - h2: The transcript hash after both ephemeral keys.
    ///   - c2sKX: `crypto_kx`'s client-to-server key.
    ///   - s2cKX: `crypto_kx`'s server-to-client key.
    /// - Returns: The client-to-server and server-to-client stream keys.
    public static func streamKeys(handshakeKey: SymmetricKey, h2: [UInt8], c2sKX: SymmetricKey, s2cKX: SymmetricKey) throws -> (c2s: SymmetricKey, s2c: SymmetricKey) {
        func derive(_ label: [UInt8], _ kx: SymmetricKey) throws -> SymmetricKey {
            let material = kx.secret.withUnsafeBytes { label + h2 + Array($0) }
            return try mapCrypto { try SymmetricKey(SecretBytes(Blake2b.hash(material, outputLength: 32, key: handshakeKey.secret))) }
        }
        return (try derive(c2sLabel, c2sKX), try derive(s2cLabel, s2cKX))
    }

    /// The bytes a side signs: `"concord-peer-auth-v1" | 00 | role | hash | space id | device | proof`.
    public static func signedMessage(role: UInt8, hash: [UInt8], spaceID: SpaceID, device: PublicKey, proof: [UInt8]) -> [UInt8] {
        signatureContext + [role] + hash + spaceID.publicKey.bytes + device.bytes + proof
    }

    /// The authentication plaintext: `device | varint proof length | proof | signature`.
    static func authPayload(_ local: Local, signature: Signature) -> [UInt8] {
        var writer = ByteWriter()
        writer.write(contentsOf: local.device.publicKey.bytes)
        writer.writeVarint(UInt64(local.proof.count))
        writer.write(contentsOf: local.proof)
        writer.write(contentsOf: signature.bytes)
        return writer.bytes
    }

    /// Parses an authentication plaintext; nothing may follow the signature.
    static func parseAuth(_ bytes: [UInt8]) throws -> (PublicKey, [UInt8], Signature) {
        do {
            var reader = ByteReader(bytes)
            let device = try PublicKey(bytes: try reader.readBytes(32))
            let length = try reader.readVarint()
            guard length <= UInt64(maxProofBytes) else { throw reader.error("a membership proof of \(length) bytes exceeds \(maxProofBytes)") }
            let proof = Array(try reader.readBytes(Int(length)))
            let signature = try Signature(bytes: try reader.readBytes(Signature.byteCount))
            guard reader.isAtEnd else { throw reader.error("\(reader.remaining) bytes after the signature") }
            return (device, proof, signature)
        } catch {
            throw ConcordSyncError(.peerProtocol, "the peer's authentication message is malformed (\(error)); dropped")
        }
    }

    /// Opens a handshake stream message, which must be an ordinary message.
    static func open(_ receiver: SecretStream.Receiver, _ sealed: [UInt8], who: String) throws -> [UInt8] {
        let opened: (message: [UInt8], tag: SecretStream.Tag)
        do {
            opened = try receiver.pull(sealed)
        } catch {
            throw ConcordSyncError(.peerProtocol, "\(who) does not decrypt: the peer is not a member of this space (another space's handshake key), or the message was altered in transit; dropped")
        }
        guard opened.tag == .message else {
            throw ConcordSyncError(.peerProtocol, "\(who) carries stream tag \(opened.tag), not an ordinary message; dropped")
        }
        return opened.message
    }

    /// The checks after a valid signature: not this device, and the authorizer's verdict.
    static func admit(_ peer: PublicKey, proof: [UInt8], local: Local) throws -> Role {
        guard peer != local.device.publicKey else {
            throw ConcordSyncError(.peerRefused, "connected to this device itself (its own address was dialled); dropped")
        }
        return try local.authorizer.authorize(device: peer, proof: proof)
    }

    /// Maps a crypto failure (a low-order ephemeral key, a bad header length).
    static func mapCrypto<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as ConcordCryptoError {
            throw ConcordSyncError(.peerProtocol, "the peer's handshake is unusable (\(error.message))")
        }
    }
}

import Concord
import ConcordCrypto
import NIOCore

/// Reads length-prefixed frames (`u32 big-endian length | body`, `Specs/peer-protocol.md`
/// §1) from a TCP channel's inbound stream. Reading stops at the channel's backpressure
/// watermark when the caller is slow, so a fast sender waits instead of filling memory.
struct FrameReader {
    var iterator: NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator
    var buffer = ByteBuffer()

    init(_ inbound: NIOAsyncChannelInboundStream<ByteBuffer>) {
        iterator = inbound.makeAsyncIterator()
    }

    /// The next frame's body; `nil` when the connection ended cleanly between frames.
    /// - Parameters:
    ///   - limit: The largest body accepted; a larger length drops the connection before
    ///     anything is buffered.
    /// - Throws: ``ConcordSyncError`` `.peerProtocol` for a zero or oversized length,
    ///   `.unreachable` when the connection ends inside a frame or fails.
    mutating func next(limit: Int) async throws -> [UInt8]? {
        while true {
            if buffer.readableBytes >= 4, let length = buffer.getInteger(at: buffer.readerIndex, as: UInt32.self) {
                guard length >= 1, Int(length) <= limit else {
                    throw ConcordSyncError(.peerProtocol, "the peer announced a frame of \(length) bytes (limit \(limit)); the connection was dropped")
                }
                if buffer.readableBytes >= 4 + Int(length) {
                    buffer.moveReaderIndex(forwardBy: 4)
                    let body = buffer.readBytes(length: Int(length))!
                    if buffer.readableBytes == 0 { buffer.clear() } else if buffer.readerIndex > 1 << 20 { buffer.discardReadBytes() }
                    return body
                }
            }
            let chunk: ByteBuffer?
            do {
                chunk = try await iterator.next()
            } catch {
                throw ConcordSyncError(.unreachable, "the connection to the peer failed (\(error)); sync resumes when it is back")
            }
            guard var chunk else {
                if buffer.readableBytes == 0 { return nil }
                throw ConcordSyncError(.unreachable, "the connection to the peer was cut inside a message; what arrived whole was kept, sync resumes when it is back")
            }
            buffer.writeBuffer(&chunk)
        }
    }
}

/// Frames a body for the wire.
func framed(_ body: [UInt8], allocator: ByteBufferAllocator = ByteBufferAllocator()) -> ByteBuffer {
    var buffer = allocator.buffer(capacity: body.count + 4)
    buffer.writeInteger(UInt32(body.count))
    buffer.writeBytes(body)
    return buffer
}

/// An established peer connection: encrypted, authenticated messages both ways
/// (`Specs/peer-protocol.md` §4). Only valid inside the channel's `executeThenClose`.
struct PeerLink {
    let established: PeerHandshake.Established
    var reader: FrameReader
    let outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>
    let maxBundleBytes: Int

    /// The largest frame after the handshake: one bundle, its framing and the stream's tag.
    var maxFrameBytes: Int { maxBundleBytes + 64 }

    /// Encrypts and sends one message (suspends while the connection is not writable).
    func send(_ message: [UInt8], final: Bool = false) async throws {
        try await PeerLinkWriter(established: established, outbound: outbound).send(message, final: final)
    }

    /// Receives and decrypts the next message.
    /// - Returns: The message and whether it was the stream's last; `nil` if the
    ///   connection ended without a final message (cut).
    /// - Throws: ``ConcordSyncError`` `.peerProtocol` when a message fails
    ///   authentication (altered, replayed, reordered) or does not parse.
    mutating func receive() async throws -> (message: PeerMessage, final: Bool)? {
        guard let frame = try await reader.next(limit: maxFrameBytes) else { return nil }
        let opened: (message: [UInt8], tag: SecretStream.Tag)
        do {
            opened = try established.receiver.pull(frame)
        } catch {
            throw ConcordSyncError(.peerProtocol, "a message from peer \(established.peer.hex.prefix(8)) failed authentication: it was altered, replayed or reordered in transit. The connection was dropped and nothing of that message applied")
        }
        return (try PeerMessage(decoding: opened.message, maxBundleBytes: maxBundleBytes), opened.tag == .final)
    }
}

extension PeerHandshake {
    /// Runs the initiator's side over a connected channel.
    static func runInitiator(_ local: Local, reader: inout FrameReader, outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>) async throws -> Established {
        let initiator = Initiator(local: local)
        try await write(initiator.hello, outbound)
        guard let reply = try await reader.next(limit: maxMessageBytes) else {
            throw ConcordSyncError(.peerProtocol, "the peer closed the connection during the handshake: it is not a member of this space, or not a Concord peer")
        }
        let (message3, established) = try initiator.receive(reply)
        try await write(message3, outbound)
        return established
    }

    /// Runs the responder's side over an accepted channel.
    static func runResponder(_ local: Local, reader: inout FrameReader, outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>) async throws -> Established {
        var responder = Responder(local: local)
        guard let hello = try await reader.next(limit: maxMessageBytes) else {
            throw ConcordSyncError(.peerProtocol, "the connecting party closed before its hello")
        }
        let message2 = try responder.receiveHello(hello)
        try await write(message2, outbound)
        guard let message3 = try await reader.next(limit: maxMessageBytes) else {
            throw ConcordSyncError(.peerRefused, "the connecting peer closed the connection during the handshake: it refused this device, or is not of this space")
        }
        do {
            return try responder.receive(message3)
        } catch let error as ConcordSyncError where error.code == .peerRefused {
            // Tell the refused (but authenticated) initiator why, on this side's stream.
            if let refusal = responder.refusal(error.message) { try? await write(refusal, outbound) }
            throw error
        }
    }

    private static func write(_ body: [UInt8], _ outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>) async throws {
        do {
            try await outbound.write(framed(body))
        } catch {
            throw ConcordSyncError(.unreachable, "the connection to the peer failed during the handshake (\(error))")
        }
    }
}

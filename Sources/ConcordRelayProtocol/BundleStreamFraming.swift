import ConcordProtocol

/// The bundle-stream framing of `Specs/relay-api.md` §2: `(u32 BE length | bytes)* | 00000000`.
///
/// ```swift
/// var out = BundleStreamFraming.frame(bundle.bytes)   // one frame
/// out += BundleStreamFraming.endMarker
///
/// var decoder = BundleStreamFraming.Decoder(maxFrameBytes: 64 << 20)
/// decoder.append(chunk)
/// while let bundle = try decoder.next() { … }
/// if decoder.isFinished { … }                          // end marker seen
/// ```
public enum BundleStreamFraming {
    /// The end-of-stream marker: a zero length.
    public static let endMarker: [UInt8] = [0, 0, 0, 0]

    /// One frame: the big-endian length, then the bytes.
    /// - Parameters:
    ///   - bytes: A bundle (not empty).
    /// - Returns: The framed bytes.
    public static func frame(_ bytes: [UInt8]) -> [UInt8] {
        let n = UInt32(bytes.count)
        return [UInt8(n >> 24), UInt8((n >> 16) & 0xff), UInt8((n >> 8) & 0xff), UInt8(n & 0xff)] + bytes
    }

    /// Frames several bundles and the end marker.
    /// - Parameters:
    ///   - bundles: The bundles, in order.
    /// - Returns: A complete stream.
    public static func encode(_ bundles: [[UInt8]]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(bundles.reduce(4) { $0 + $1.count + 4 })
        for bundle in bundles { out += frame(bundle) }
        return out + endMarker
    }

    /// Bytes of frames a live-feed message carries at most, unless it holds a single larger
    /// bundle (`Specs/relay-api.md` §5). Clients accept messages of
    /// `max(feedBatchBytes, maxBundleBytes + 4)` bytes.
    public static let feedBatchBytes = 1 << 20

    /// The bundles of one live-feed message (§5): one or more whole frames, no end marker.
    ///
    /// ```swift
    /// for bundle in try BundleStreamFraming.frames(inMessage: Array(buffer.readableBytesView)) { … }
    /// ```
    /// - Parameters:
    ///   - message: The binary message's bytes.
    ///   - maxFrameBytes: Frames longer than this are refused.
    /// - Returns: The bundles, in order.
    /// - Throws: ``RelayProtocolError`` `.malformedStream` for an empty message, a zero or
    ///   oversized length, or a frame cut short.
    public static func frames(inMessage message: [UInt8], maxFrameBytes: Int = BundleLimits.defaultMaxBundleBytes) throws -> [[UInt8]] {
        var frames: [[UInt8]] = []
        var start = 0
        while start < message.count {
            guard message.count - start >= 4 else {
                throw RelayProtocolError(.malformedStream, "a live-feed message ends inside a frame length; the relay or a proxy is broken")
            }
            let length = Int(message[start]) << 24 | Int(message[start + 1]) << 16 | Int(message[start + 2]) << 8 | Int(message[start + 3])
            guard length > 0, length <= maxFrameBytes else {
                throw RelayProtocolError(.malformedStream, "a live-feed frame of \(length) bytes is outside 1...\(maxFrameBytes); the relay or a proxy is broken")
            }
            guard message.count - start - 4 >= length else {
                throw RelayProtocolError(.malformedStream, "a live-feed message ends inside a \(length)-byte frame; the relay or a proxy is broken")
            }
            frames.append(Array(message[(start + 4)..<(start + 4 + length)]))
            start += 4 + length
        }
        guard !frames.isEmpty else {
            throw RelayProtocolError(.malformedStream, "an empty live-feed message; the relay or a proxy is broken")
        }
        return frames
    }

    /// An incremental decoder: feed chunks as they arrive, take whole frames out.
    public struct Decoder: Sendable {
        /// The largest frame accepted.
        public let maxFrameBytes: Int
        private var buffer: [UInt8] = []
        private var start = 0
        /// Whether the end marker was read.
        public private(set) var isFinished = false

        /// Creates a decoder.
        /// - Parameters:
        ///   - maxFrameBytes: Frames longer than this are refused (the bundle size limit).
        public init(maxFrameBytes: Int = BundleLimits.defaultMaxBundleBytes) {
            self.maxFrameBytes = maxFrameBytes
        }

        /// Bytes received but not yet returned as frames.
        public var bufferedByteCount: Int { buffer.count - start }

        /// Adds received bytes.
        /// - Parameters:
        ///   - bytes: The next chunk.
        public mutating func append(_ bytes: some Sequence<UInt8>) {
            if start > 0 && start >= buffer.count / 2 {
                buffer.removeFirst(start)
                start = 0
            }
            buffer.append(contentsOf: bytes)
        }

        /// The next whole frame, or nil if more bytes are needed or the stream ended.
        /// - Returns: A bundle's bytes.
        /// - Throws: ``RelayProtocolError`` `.malformedStream` for an oversized frame or bytes after the end marker.
        public mutating func next() throws -> [UInt8]? {
            if isFinished {
                guard bufferedByteCount == 0 else {
                    throw RelayProtocolError(.malformedStream, "bytes after the end of a bundle stream; the relay or proxy is broken")
                }
                return nil
            }
            guard bufferedByteCount >= 4 else { return nil }
            let length = Int(buffer[start]) << 24 | Int(buffer[start + 1]) << 16 | Int(buffer[start + 2]) << 8 | Int(buffer[start + 3])
            if length == 0 {
                start += 4
                isFinished = true
                return try next()
            }
            guard length <= maxFrameBytes else {
                throw RelayProtocolError(.malformedStream, "a bundle stream frame of \(length) bytes is above the \(maxFrameBytes)-byte limit")
            }
            guard bufferedByteCount >= 4 + length else { return nil }
            let frame = Array(buffer[(start + 4)..<(start + 4 + length)])
            start += 4 + length
            return frame
        }
    }
}

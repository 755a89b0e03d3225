import ConcordCrypto
import Foundation

/// The rotating tag a device puts in its LAN advertisement (`Specs/peer-protocol.md` §2):
/// members of the space recognise it, anyone else sees 16 random-looking bytes that change
/// every window and differ between devices.
///
/// ```text
/// tag = BLAKE2b-128(key: discovery key, "concord-discovery-v1" | 00 | window (u64 BE) | nonce (8 bytes))
/// window = floor(unix seconds / 300)
/// ```
///
/// ```swift
/// let nonce = DiscoveryTag.freshNonce()
/// let tag = DiscoveryTag.make(key: keys.discovery, window: DiscoveryTag.window(), nonce: nonce)
/// assert(DiscoveryTag.matches(tag, nonce: nonce, key: keys.discovery))
/// ```
public enum DiscoveryTag {
    /// Seconds per window (5 minutes).
    public static let windowSeconds: UInt64 = 300
    /// Bytes of a tag.
    public static let byteCount = 16
    /// Bytes of a nonce.
    public static let nonceByteCount = 8
    /// The MAC's domain label, followed by `00`.
    public static let label = Array("concord-discovery-v1".utf8) + [0]

    /// The window of a time.
    /// - Parameters:
    ///   - date: The time; now by default.
    /// - Returns: `floor(unix seconds / 300)`.
    public static func window(at date: Date = Date()) -> UInt64 {
        UInt64(max(0, date.timeIntervalSince1970)) / windowSeconds
    }

    /// A fresh random nonce (advertisers take a new one every window).
    public static func freshNonce() -> [UInt8] {
        SecureRandom.bytes(count: nonceByteCount)
    }

    /// The tag of `window` and `nonce` under the discovery key.
    /// - Parameters:
    ///   - key: The space's discovery key (``PeerSpaceKeys/discovery``).
    ///   - window: The time window.
    ///   - nonce: The advertiser's 8-byte nonce.
    /// - Returns: 16 bytes.
    public static func make(key: SymmetricKey, window: UInt64, nonce: [UInt8]) -> [UInt8] {
        var message = label
        for shift in stride(from: 56, through: 0, by: -8) { message.append(UInt8((window >> UInt64(shift)) & 0xff)) }
        message += nonce
        // Cannot throw: 16 bytes of output and a 32-byte key are valid.
        return try! Blake2b.hash(message, outputLength: byteCount, key: key.secret)
    }

    /// Whether `tag` was made with `key` for the window of `date`, the one before or the
    /// one after (clocks differ a little; an advertisement may be up to one window old).
    /// - Parameters:
    ///   - tag: The advertised tag.
    ///   - nonce: The advertised nonce.
    ///   - key: This device's discovery key.
    ///   - date: Now.
    /// - Returns: `true` for an advertisement of this space.
    public static func matches(_ tag: [UInt8], nonce: [UInt8], key: SymmetricKey, at date: Date = Date()) -> Bool {
        guard tag.count == byteCount, nonce.count == nonceByteCount else { return false }
        let now = window(at: date)
        return [now, now &- 1, now &+ 1].contains { ConstantTime.isEqual(make(key: key, window: $0, nonce: nonce), tag) }
    }
}

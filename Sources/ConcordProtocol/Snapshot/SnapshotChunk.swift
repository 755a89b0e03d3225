import ConcordCore
import ConcordCrypto

/// One content-addressed piece of a snapshot's records (`Specs/snapshots.md` §4.2).
///
/// ```text
/// chunk = "CNCK" | u8 version (01) | state digest bytes[32] | varint index
///       | payload: plaintext, or nonce bytes[24] | XChaCha20-Poly1305-IETF(epoch key, ad = the bytes before the payload)
/// chunk id = BLAKE2b-256(chunk bytes)
/// ```
///
/// A chunk names the snapshot's **state digest**, not its id: the manifest lists the chunk
/// ids, so the snapshot id (a hash of the manifest) cannot appear in a chunk.
///
/// ```swift
/// let chunk = try SnapshotChunk.decode(body, index: 3, of: manifest)   // id, length, header
/// let records = try SnapshotRecord.decode(chunk.plaintext(key: nil))
/// ```
public struct SnapshotChunk: Hashable, Sendable {
    /// The chunk's magic bytes, `CNCK`.
    public static let magic: [UInt8] = Array("CNCK".utf8)
    /// The chunk format this build reads and writes (1).
    public static let formatVersion: UInt8 = 1

    /// The chunk's exact bytes.
    public let bytes: [UInt8]
    /// BLAKE2b-256 of ``bytes``.
    public let id: Digest32
    /// The state digest of the snapshot it belongs to.
    public let stateDigest: Digest32
    /// Its position in the manifest's chunk list.
    public let index: Int
    /// Where the payload starts in ``bytes``.
    let payloadStart: Int

    /// The payload: the plaintext, or nonce and ciphertext when the snapshot is encrypted.
    public var payload: ArraySlice<UInt8> { bytes[payloadStart...] }

    /// The length of a chunk's header at `index`: magic, version, state digest, index.
    static func headerBytes(index: Int) -> Int {
        var w = ByteWriter()
        w.writeVarint(UInt64(index))
        return magic.count + 1 + 32 + w.bytes.count
    }

    /// Decodes chunk `index` of `manifest`, checking its length and id against the
    /// manifest's entry first (nothing else is read when they differ), then its header:
    /// magic, version, the manifest's state digest, the index.
    ///
    /// ```swift
    /// let chunk = try SnapshotChunk.decode(body, index: 0, of: manifest)
    /// ```
    /// - Parameters:
    ///   - bytes: The chunk as fetched.
    ///   - index: Its position in ``SnapshotManifest/chunks``.
    ///   - manifest: The decoded, signature-checked manifest.
    /// - Returns: The chunk.
    /// - Throws: ``ConcordError`` `.malformedSnapshot` for an index out of range, a length or
    ///   id other than the manifest's, or a header that does not match; `.unsupportedVersion`
    ///   for another chunk format.
    public static func decode(_ bytes: [UInt8], index: Int, of manifest: SnapshotManifest) throws(ConcordError) -> SnapshotChunk {
        guard manifest.chunks.indices.contains(index) else {
            throw ConcordError(
                .malformedSnapshot,
                "chunk \(index) is not in snapshot \(manifest.id.hex.prefix(8)), which has \(manifest.chunks.count) chunks")
        }
        let expected = manifest.chunks[index]
        guard bytes.count == expected.length else {
            throw ConcordError(
                .malformedSnapshot,
                "chunk \(index) of snapshot \(manifest.id.hex.prefix(8)) is \(bytes.count) bytes, the manifest says \(expected.length): it is truncated or another chunk; fetch it again"
            )
        }
        let id = Blake2b.hash(bytes)
        guard id == expected.id else {
            throw ConcordError(
                .malformedSnapshot,
                "chunk \(index) of snapshot \(manifest.id.hex.prefix(8)) has id \(id.hex.prefix(8)), the manifest says \(expected.id.hex.prefix(8)): it was altered or is another chunk; fetch it again"
            )
        }
        guard bytes.count >= magic.count + 1, Array(bytes.prefix(magic.count)) == magic else {
            throw ConcordError(.malformedSnapshot, "chunk \(index) does not start with \"CNCK\"")
        }
        guard bytes[magic.count] == formatVersion else {
            throw ConcordError(
                .unsupportedVersion,
                "snapshot chunk format \(bytes[magic.count]) is not supported by this version of Concord (it reads format \(formatVersion)); update Concord on this device"
            )
        }
        var r = ByteReader(bytes, range: (magic.count + 1)..<bytes.count)
        do {
            let digest = try Digest32(bytes: r.readBytes(32))
            guard digest == manifest.stateDigest else {
                throw r.error("the chunk names state digest \(digest.hex.prefix(8)), not the manifest's")
            }
            let named = try r.readVarint()
            guard named == UInt64(index) else { throw r.error("the chunk says it is chunk \(named), not \(index)") }
            if manifest.isEncrypted, r.remaining < XChaCha20Poly1305.nonceByteCount + XChaCha20Poly1305.tagByteCount {
                throw r.error("an encrypted payload of \(r.remaining) bytes (at least nonce and tag)")
            }
            return SnapshotChunk(bytes: bytes, id: id, stateDigest: digest, index: index, payloadStart: r.offset)
        } catch let error as ConcordCoreError {
            throw ConcordError(.malformedSnapshot, "chunk \(index) of snapshot \(manifest.id.hex.prefix(8)): \(error.message)")
        } catch {
            throw ConcordError(.malformedSnapshot, "chunk \(index) of snapshot \(manifest.id.hex.prefix(8)): \(error)")
        }
    }

    /// The chunk's plaintext: the payload itself, or the payload opened with `key`.
    /// - Parameters:
    ///   - key: The epoch key the manifest names (``SnapshotManifest/keyID``); `nil` for a
    ///     plaintext snapshot.
    /// - Returns: The record entries' bytes (``SnapshotRecord/decode(_:)``).
    /// - Throws: ``ConcordError`` `.decryptionFailed` when the payload does not open with
    ///   `key`, `.invalidKey` when a key is needed and missing.
    public func plaintext(key: EpochKey?) throws(ConcordError) -> [UInt8] {
        guard let key else { return Array(payload) }
        do {
            let box = try XChaCha20Poly1305.SealedBox(combined: payload)
            return try XChaCha20Poly1305.open(box, using: key.key, authenticating: bytes[..<payloadStart])
        } catch {
            throw ConcordError(
                .decryptionFailed,
                "chunk \(index) of the snapshot does not open with epoch key \(key.id.hex): it was altered, or the key is not the manifest's; fetch it again"
            )
        }
    }

    /// Builds chunk `index` of a snapshot whose state digest is `stateDigest`, encrypting
    /// `plaintext` under `key` when given.
    /// - Parameters:
    ///   - plaintext: Record entries (``SnapshotWriter``).
    ///   - index: The chunk's position.
    ///   - stateDigest: The snapshot's state digest.
    ///   - key: The epoch key, or `nil` for a plaintext snapshot.
    ///   - nonce: A fixed nonce (test vectors only); random by default.
    package init(sealing plaintext: [UInt8], index: Int, stateDigest: Digest32, key: EpochKey?, nonce: XChaCha20Poly1305.Nonce? = nil) {
        var w = ByteWriter(capacity: plaintext.count + 80)
        w.write(contentsOf: Self.magic)
        w.write(Self.formatVersion)
        w.write(contentsOf: stateDigest.bytes)
        w.writeVarint(UInt64(index))
        let start = w.bytes.count
        if let key {
            let box = XChaCha20Poly1305.seal(plaintext, using: key.key, nonce: nonce ?? XChaCha20Poly1305.Nonce(), authenticating: w.bytes)
            w.write(contentsOf: box.nonce.bytes)
            w.write(contentsOf: box.ciphertext)
        } else {
            w.write(contentsOf: plaintext)
        }
        self.init(bytes: w.bytes, id: Blake2b.hash(w.bytes), stateDigest: stateDigest, index: index, payloadStart: start)
    }

    init(bytes: [UInt8], id: Digest32, stateDigest: Digest32, index: Int, payloadStart: Int) {
        self.bytes = bytes
        self.id = id
        self.stateDigest = stateDigest
        self.index = index
        self.payloadStart = payloadStart
    }
}

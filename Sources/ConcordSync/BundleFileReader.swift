#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Concord
import ConcordCrypto

/// Reads a bundle file from disk in bounded memory (`Specs/wire-format.md` §10.3).
///
/// Creating the reader checks the whole file in one streamed pass, in the order of the
/// decoder checklist: the header first (magic, length, version; a file that is not a
/// bundle file costs one read of 37 bytes), then the checksum over the body and the
/// structure of every entry, through a 1 MiB buffer. Of the file it keeps only the space
/// id, counts and one BLAKE2b digest per batch of entries (32 bytes per ~8 MiB).
/// ``forEachBatch(_:)`` then reads the entries again, a batch at a time through the same
/// open descriptor, and checks each batch against its digest before handing it out: every
/// byte handed out is a byte the first pass verified, even if the file is changed in
/// place in between.
///
/// ```swift
/// let reader = try BundleFileReader(path: RawPath("in.concord"), limits: .default)
/// try reader.forEachBatch { bundles, _ in _ = try replica.import(bundles) }
/// ```
///
/// Memory: the read buffer, then one batch (``batchBytes`` plus at most one bundle) and
/// its bundles; never the file.
/// - Complexity: O(n) time in the file's size, read twice; O(n / batchBytes) memory.
package final class BundleFileReader {
    /// The file read.
    package let path: RawPath
    /// The space every bundle of the file belongs to.
    package let spaceID: SpaceID
    /// How many bundles the file holds.
    package let count: Int
    /// The bytes of all bundles, without header, lengths and checksum.
    package let bundleByteCount: Int
    /// A batch closes at the first entry boundary at or after this many bytes.
    package let batchBytes: Int

    private let descriptor: Int32
    private let batches: [Scan.Batch]

    /// Opens `path` and checks it whole (steps 1–5 of §10.3); nothing is imported.
    /// - Parameters:
    ///   - path: The file; anything but a regular file is refused without being opened.
    ///   - limits: ``BundleLimits/maxBundleBytes`` bounds each entry.
    ///   - batchBytes: Bytes of bundles per batch of ``forEachBatch(_:)``.
    ///   - readBufferBytes: The first pass's read buffer.
    /// - Throws: ``ConcordSyncError`` `.fileSystem`, `.notABundleFile`, `.truncatedFile`,
    ///   `.unsupportedVersion`, `.checksumMismatch` or `.malformedFile`, the message
    ///   starting with the path.
    package init(path: RawPath, limits: BundleLimits, batchBytes: Int = 8 << 20, readBufferBytes: Int = 1 << 20) throws(ConcordSyncError) {
        let batchBytes = max(1, batchBytes)
        let (descriptor, size) = try FileIO.openRegularFile(path)
        self.path = path
        self.batchBytes = batchBytes
        self.descriptor = descriptor
        do throws(ConcordSyncError) {
            let spaceID = try Self.checkHeader(descriptor, size: size, path: path)
            var scan = Scan(fd: descriptor, path: path, spaceID: spaceID, batchBytes: batchBytes)
            try scan.run(size: size, limits: limits, bufferBytes: max(64, readBufferBytes))
            self.spaceID = spaceID
            count = scan.count
            bundleByteCount = scan.bundleByteCount
            batches = scan.batches
        } catch {
            close(descriptor)
            throw error.code == .fileSystem ? error : ConcordSyncError(error.code, "\(path): \(error.message)")
        }
    }

    deinit { close(descriptor) }

    /// Steps 1–3: magic, length, version, from the first 37 bytes only.
    private static func checkHeader(_ fd: Int32, size: Int, path: RawPath) throws(ConcordSyncError) -> SpaceID {
        var header = [UInt8](repeating: 0, count: BundleFile.headerByteCount)
        let got = try FileIO.read(fd, into: &header, at: 0, path: path)
        let magicBytes = min(4, got)
        guard header.prefix(magicBytes).elementsEqual(BundleFile.magic.prefix(magicBytes)) else {
            throw BundleFile.notABundleFile()
        }
        guard size >= BundleFile.minimumByteCount, got == BundleFile.headerByteCount else {
            throw BundleFile.truncated(size)
        }
        guard header[4] == BundleFile.formatVersion else { throw BundleFile.unsupportedVersion(header[4]) }
        // Cannot fail: 32 bytes.
        return try! SpaceID(bytes: header[5..<BundleFile.headerByteCount])
    }

    /// Reads the entries again, one batch at a time, and calls `body` with each batch's
    /// bundles (copies) and their byte count. A batch whose bytes differ from what the
    /// first pass verified stops the reading before it is handed out.
    /// - Throws: ``ConcordSyncError`` `.checksumMismatch` when the file changed since it
    ///   was checked (batches handed out before are unaffected), `.fileSystem`; what
    ///   `body` throws.
    package func forEachBatch(_ body: (_ bundles: [[UInt8]], _ byteCount: Int) throws -> Void) throws {
        for batch in batches {
            var bytes = [UInt8](repeating: 0, count: batch.range.count)
            let got = try FileIO.read(descriptor, into: &bytes, at: batch.range.lowerBound, path: path)
            guard got == bytes.count, Blake2b.hash(bytes).bytes.elementsEqual(batch.digest) else {
                throw ConcordSyncError(.checksumMismatch, "\(path): the file changed while it was being imported (its bytes no longer match the checksum checked a moment before); what was imported before the change was verified bundle by bundle. Import it again once it is complete")
            }
            var reader = ByteReader(bytes)
            var bundles: [[UInt8]] = []
            bundles.reserveCapacity(batch.count)
            var byteCount = 0
            // Cannot fail: these bytes are the ones the first pass parsed.
            while !reader.isAtEnd {
                let length = Int(try! reader.readVarint())
                bundles.append(Array(try! reader.readBytes(length)))
                byteCount += length
            }
            try body(bundles, byteCount)
        }
    }
}

/// The first pass of ``BundleFileReader``: what it learns of the file.
private struct Scan {
    struct Batch {
        var range: Range<Int>
        var count: Int
        var digest: [UInt8]
    }

    let fd: Int32
    let path: RawPath
    let spaceID: SpaceID
    let batchBytes: Int
    var count = 0
    var bundleByteCount = 0
    var batches: [Batch] = []

    /// Steps 4 and 5 in one pass: the checksum over `[0, size − 32)` and every entry's
    /// structure. A structural fault is reported only once the checksum matched, so a
    /// damaged file is always `checksumMismatch`, as for the in-memory reader.
    mutating func run(size: Int, limits: BundleLimits, bufferBytes: Int) throws(ConcordSyncError) {
        let body = size - BundleFile.checksumByteCount
        var stream = HashingStream(fd: fd, path: path, start: 0, end: body, bufferBytes: bufferBytes)
        try stream.skip(BundleFile.headerByteCount)
        stream.startBatch()
        var batchStart = stream.offset
        var batchCount = 0
        var structural: ConcordSyncError?
        do throws(ConcordSyncError) {
            while !stream.isAtEnd {
                let length = try nextEntry(&stream, limits: limits)
                count += 1
                bundleByteCount += length
                batchCount += 1
                if stream.offset - batchStart >= batchBytes {
                    batches.append(Batch(range: batchStart..<stream.offset, count: batchCount, digest: stream.finishBatch()))
                    batchStart = stream.offset
                    batchCount = 0
                }
            }
        } catch let error where error.code == .malformedFile {
            structural = error
        }
        try stream.skip(stream.remaining)
        var checksum = [UInt8](repeating: 0, count: BundleFile.checksumByteCount)
        let got = try FileIO.read(fd, into: &checksum, at: body, path: path)
        guard got == BundleFile.checksumByteCount, stream.fileDigest() == checksum else { throw BundleFile.checksumMismatch() }
        if let structural { throw structural }
        if batchCount > 0 {
            batches.append(Batch(range: batchStart..<stream.offset, count: batchCount, digest: stream.finishBatch()))
        }
    }

    /// Step 5 for one entry: a minimal varint length `n`, `1 ≤ n ≤` the limit and the
    /// bytes left, a change bundle of the file's space. Returns `n`.
    private mutating func nextEntry(_ stream: inout HashingStream, limits: BundleLimits) throws(ConcordSyncError) -> Int {
        let entry = count + 1
        let start = stream.offset
        var length: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            guard !stream.isAtEnd else { throw BundleFile.malformed("entry \(entry) at offset \(start): its length is cut off by the checksum") }
            let byte = try stream.byte()
            if shift == 63 && byte > 1 { throw BundleFile.malformed("entry \(entry) at offset \(start): its length overflows 64 bits") }
            length |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 {
                if byte == 0 && shift > 0 { throw BundleFile.malformed("entry \(entry) at offset \(start): its length is not minimally encoded") }
                break
            }
            shift += 7
        }
        guard length >= 1 else { throw BundleFile.malformed("entry \(entry) at offset \(start) is empty") }
        guard length <= UInt64(limits.maxBundleBytes) else {
            throw BundleFile.malformed("entry \(entry) at offset \(start) declares \(length) bytes, more than the bundle size limit of \(limits.maxBundleBytes)")
        }
        guard length <= UInt64(stream.remaining) else {
            throw BundleFile.malformed("entry \(entry) at offset \(start) declares \(length) bytes but only \(stream.remaining) remain before the checksum")
        }
        let n = Int(length)
        let prefix = try stream.bytes(min(n, 38))
        guard prefix.count >= 38, prefix[0..<4].elementsEqual(ChangeBundle.magic) else {
            throw BundleFile.malformed("entry \(entry) at offset \(start) is not a change bundle")
        }
        guard prefix[6..<38].elementsEqual(spaceID.bytes) else {
            throw BundleFile.malformed("entry \(entry) at offset \(start) is a bundle of another space than the file's")
        }
        try stream.skip(n - prefix.count)
        return n
    }
}

/// Sequential reads of `[start, end)` of a file through one buffer, hashing every byte
/// consumed into the file's hash and the current batch's hash.
private struct HashingStream {
    let fd: Int32
    let path: RawPath
    let end: Int
    /// The file offset of the next byte to consume.
    private(set) var offset: Int
    private var buffer: [UInt8]
    /// The file offset of `buffer[0]`, and how many bytes of it are valid.
    private var bufferStart: Int
    private var bufferCount = 0
    /// Bytes before this offset have been fed to the hashers.
    private var hashedUpTo: Int
    private var fileHasher = Blake2b()
    private var batchHasher = Blake2b()

    init(fd: Int32, path: RawPath, start: Int, end: Int, bufferBytes: Int) {
        self.fd = fd
        self.path = path
        self.end = end
        offset = start
        bufferStart = start
        hashedUpTo = start
        buffer = [UInt8](repeating: 0, count: bufferBytes)
    }

    var isAtEnd: Bool { offset >= end }
    var remaining: Int { end - offset }

    /// Feeds the consumed bytes still in the buffer to both hashers.
    private mutating func hashConsumed() {
        guard hashedUpTo < offset else { return }
        let from = hashedUpTo - bufferStart
        let to = offset - bufferStart
        buffer.withUnsafeBufferPointer { all in
            let slice = UnsafeBufferPointer(rebasing: all[from..<to])
            fileHasher.update(slice)
            batchHasher.update(slice)
        }
        hashedUpTo = offset
    }

    /// Makes at least one unconsumed byte available.
    private mutating func refill() throws(ConcordSyncError) {
        hashConsumed()
        bufferStart = offset
        let want = min(buffer.count, end - offset)
        bufferCount = try FileIO.read(fd, into: &buffer, count: want, at: offset, path: path)
        guard bufferCount > 0 else {
            throw ConcordSyncError(.truncatedFile, "the bundle file ended at byte \(offset), before its checksum: it shrank while it was read (still being copied?); nothing was imported. Copy or export it again")
        }
    }

    private var available: Int { bufferStart + bufferCount - offset }

    mutating func byte() throws(ConcordSyncError) -> UInt8 {
        if available == 0 { try refill() }
        defer { offset += 1 }
        return buffer[offset - bufferStart]
    }

    /// `count` bytes (small: a copy).
    mutating func bytes(_ count: Int) throws(ConcordSyncError) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(count)
        while out.count < count {
            if available == 0 { try refill() }
            let take = min(available, count - out.count)
            let from = offset - bufferStart
            out.append(contentsOf: buffer[from..<(from + take)])
            offset += take
        }
        return out
    }

    mutating func skip(_ count: Int) throws(ConcordSyncError) {
        var left = count
        while left > 0 {
            if available == 0 { try refill() }
            let take = min(available, left)
            offset += take
            left -= take
        }
    }

    /// Starts a new batch hash at the current offset.
    mutating func startBatch() {
        hashConsumed()
        batchHasher = Blake2b()
    }

    /// The digest of the bytes consumed since the batch started; starts the next batch.
    mutating func finishBatch() -> [UInt8] {
        hashConsumed()
        let digest = batchHasher.finalize()
        batchHasher = Blake2b()
        return digest
    }

    /// The digest of every byte consumed.
    mutating func fileDigest() -> [UInt8] {
        hashConsumed()
        return fileHasher.finalize()
    }
}

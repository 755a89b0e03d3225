import Concord
import ConcordCrypto

/// A bundle file (`.concord`): change bundles of one space in one file, for carrying on
/// a USB stick, attaching to an e-mail or dropping into a shared folder
/// (`Specs/wire-format.md`, section 10).
///
/// ```text
/// "CNCF" | version 01 | space id (32) | entries: (varint length n | bundle bytes[n])* | BLAKE2b-256 checksum (32)
/// ```
///
/// The checksum covers every byte before it, so a truncated or damaged file is detected
/// before anything in it is used; each bundle inside is still verified by the importer
/// (signature, membership, chain) like any bundle.
///
/// ```swift
/// let file = try BundleFile(bytes: received, limits: .default)   // checksum and structure
/// for index in 0..<file.count { print(file.bundleBytes(at: index).count) }
/// ```
public struct BundleFile: Sendable {
    /// The 4 magic bytes that start every bundle file: `"CNCF"`.
    public static let magic: [UInt8] = Array("CNCF".utf8)
    /// The bundle-file format this build reads and writes (1).
    public static let formatVersion: UInt8 = 1
    /// The file name extension, without the dot.
    public static let fileExtension = "concord"
    /// Bytes before the first entry: magic, version, space id.
    public static let headerByteCount = 4 + 1 + SpaceID.byteCount
    /// Bytes of the trailing checksum.
    public static let checksumByteCount = 32
    /// The smallest file: a header and a checksum, no bundles.
    public static let minimumByteCount = headerByteCount + checksumByteCount

    /// The whole file as read.
    public let bytes: [UInt8]
    /// The space every bundle of the file belongs to.
    public let spaceID: SpaceID
    /// Where each bundle lies in ``bytes``, in file order.
    public let ranges: [Range<Int>]

    /// How many bundles the file holds.
    public var count: Int { ranges.count }
    /// The bytes of all bundles, without headers, lengths and checksum.
    public var bundleByteCount: Int { ranges.reduce(0) { $0 + $1.count } }

    /// The bytes of bundle `index` (a view of ``bytes``; no copy).
    public func bundleBytes(at index: Int) -> ArraySlice<UInt8> { bytes[ranges[index]] }

    /// Checks and parses a whole bundle file, in this order (section 10.3): length, magic,
    /// version, checksum, then every entry. Nothing is copied: the bundles are ranges of
    /// `bytes`.
    /// - Parameters:
    ///   - bytes: The file's contents.
    ///   - limits: `BundleLimits/maxBundleBytes` bounds each entry.
    /// - Throws: ``ConcordSyncError`` `.truncatedFile`, `.notABundleFile`,
    ///   `.unsupportedVersion`, `.checksumMismatch` or `.malformedFile`.
    public init(bytes: [UInt8], limits: BundleLimits = .default) throws(ConcordSyncError) {
        let magicMatches = bytes.count >= 4 && bytes[0..<4].elementsEqual(Self.magic)
        let magicPrefixMatches = bytes.count < 4 && bytes.elementsEqual(Self.magic.prefix(bytes.count))
        guard magicMatches || magicPrefixMatches else { throw Self.notABundleFile() }
        guard bytes.count >= Self.minimumByteCount else { throw Self.truncated(bytes.count) }
        guard bytes[4] == Self.formatVersion else { throw Self.unsupportedVersion(bytes[4]) }
        let body = bytes.count - Self.checksumByteCount
        let expected = Blake2b.hash(bytes[0..<body])
        guard expected.bytes.elementsEqual(bytes[body...]) else { throw Self.checksumMismatch() }
        // Cannot fail: 32 bytes.
        let spaceID = try! SpaceID(bytes: bytes[5..<Self.headerByteCount])
        var ranges: [Range<Int>] = []
        var reader = ByteReader(bytes, range: Self.headerByteCount..<body)
        do {
            while !reader.isAtEnd {
                let entry = ranges.count + 1
                let start = reader.offset
                let length = try reader.readVarint()
                guard length >= 1 else { throw Self.malformed("entry \(entry) at offset \(start) is empty") }
                guard length <= UInt64(limits.maxBundleBytes) else {
                    throw Self.malformed("entry \(entry) at offset \(start) declares \(length) bytes, more than the bundle size limit of \(limits.maxBundleBytes)")
                }
                guard length <= UInt64(reader.remaining) else {
                    throw Self.malformed("entry \(entry) at offset \(start) declares \(length) bytes but only \(reader.remaining) remain before the checksum")
                }
                let range = reader.offset..<(reader.offset + Int(length))
                _ = try reader.readBytes(Int(length))
                guard range.count >= 38, bytes[range.lowerBound..<(range.lowerBound + 4)].elementsEqual(ChangeBundle.magic) else {
                    throw Self.malformed("entry \(entry) at offset \(start) is not a change bundle")
                }
                guard bytes[(range.lowerBound + 6)..<(range.lowerBound + 38)].elementsEqual(spaceID.bytes) else {
                    throw Self.malformed("entry \(entry) at offset \(start) is a bundle of another space than the file's")
                }
                ranges.append(range)
            }
        } catch let error as ConcordSyncError {
            throw error
        } catch {
            throw Self.malformed("\(error)")
        }
        self.bytes = bytes
        self.spaceID = spaceID
        self.ranges = ranges
    }

    /// Reads the whole file at `path` into memory and parses it. For files of any size,
    /// `Replica.importBundleFile(at:progress:)` reads in bounded memory instead.
    /// Anything but a regular file (a FIFO, a device) is refused without being opened.
    /// - Throws: ``ConcordSyncError`` (`.fileSystem` or a parse error naming the file).
    public static func read(at path: String, limits: BundleLimits = .default) throws(ConcordSyncError) -> BundleFile {
        let bytes = try FileIO.readAll(RawPath(path))
        do {
            return try BundleFile(bytes: bytes, limits: limits)
        } catch {
            throw ConcordSyncError(error.code, "\(path): \(error.message)")
        }
    }

    /// Encodes a whole bundle file in memory (tests, vectors, small exports). Large
    /// exports stream with ``Writer``.
    /// - Parameters:
    ///   - spaceID: The space of every bundle.
    ///   - bundles: Each bundle's exact bytes, in the order to write.
    public static func encode(spaceID: SpaceID, bundles: [[UInt8]]) -> [UInt8] {
        var writer = ByteWriter(capacity: minimumByteCount + bundles.reduce(0) { $0 + $1.count + 4 })
        writer.write(contentsOf: magic)
        writer.write(formatVersion)
        writer.write(contentsOf: spaceID.bytes)
        for bundle in bundles {
            writer.writeVarint(UInt64(bundle.count))
            writer.write(contentsOf: bundle)
        }
        var bytes = writer.bytes
        bytes.append(contentsOf: Blake2b.hash(bytes).bytes)
        return bytes
    }

    static func notABundleFile() -> ConcordSyncError {
        ConcordSyncError(.notABundleFile, "this is not a Concord bundle file (it does not start with \"CNCF\"); pick a .concord file written by `concord export` or `concord sync-folder`")
    }

    static func truncated(_ size: Int) -> ConcordSyncError {
        ConcordSyncError(.truncatedFile, "the bundle file is only \(size) bytes, less than the \(minimumByteCount) of an empty one: it was cut off while copying; nothing was imported. Copy or export it again")
    }

    static func unsupportedVersion(_ version: UInt8) -> ConcordSyncError {
        ConcordSyncError(.unsupportedVersion, "bundle file format \(version) is not supported by this version of Concord (it reads format \(formatVersion)); update Concord on this device, or export the file again with this version")
    }

    static func checksumMismatch() -> ConcordSyncError {
        ConcordSyncError(.checksumMismatch, "the bundle file's checksum does not match: the file was truncated, damaged or altered after it was written; nothing was imported. Copy or export it again from the other device")
    }

    static func malformed(_ what: String) -> ConcordSyncError {
        ConcordSyncError(.malformedFile, "the bundle file's checksum matches but its contents are malformed (\(what)); it was written by a broken program. Nothing was imported; export it again with `concord export`")
    }

    /// Streams a bundle file to disk atomically: ``append(_:)`` each bundle, then
    /// ``commit()``. The checksum is computed as the bytes go; memory stays bounded.
    ///
    /// ```swift
    /// let writer = try BundleFile.Writer(path: "out.concord", spaceID: replica.spaceID)
    /// for try await bundle in try await replica.bundles() { try writer.append(bundle.bytes) }
    /// try writer.commit()
    /// ```
    public final class Writer {
        private let file: AtomicFileWriter
        private var hasher = Blake2b()
        /// Bundles appended so far.
        public private(set) var count = 0
        /// Bytes written so far (header and length prefixes included).
        public private(set) var byteCount = 0

        /// Starts a file: a hidden temporary file next to `path` until ``commit()``.
        /// - Throws: ``ConcordSyncError`` `.fileSystem`.
        public init(path: String, spaceID: SpaceID) throws(ConcordSyncError) {
            file = try AtomicFileWriter(destination: path)
            try put(BundleFile.magic + [BundleFile.formatVersion] + spaceID.bytes)
        }

        private func put(_ bytes: some Collection<UInt8>) throws(ConcordSyncError) {
            hasher.update(bytes)
            try file.write(bytes)
            byteCount += bytes.count
        }

        /// Appends one bundle.
        public func append(_ bundle: [UInt8]) throws(ConcordSyncError) {
            var length = ByteWriter(capacity: 10)
            length.writeVarint(UInt64(bundle.count))
            try put(length.bytes)
            try put(bundle)
            count += 1
        }

        /// Writes the checksum and renames the file into place.
        public func commit() throws(ConcordSyncError) {
            let checksum = hasher.finalize()
            try file.write(checksum)
            byteCount += checksum.count
            try file.commit()
        }

        /// Discards the temporary file.
        public func abort() { file.abort() }
    }
}

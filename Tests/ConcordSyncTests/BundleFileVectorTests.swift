import Concord
import ConcordCrypto
import ConcordSync
import Foundation
import Testing

/// `Specs/vectors/bundle_files.jsonl` (`Specs/wire-format.md` §10.4): built here, byte by
/// byte and independently of `BundleFile.encode`, from the published bundles of
/// `bundles.jsonl`; `CONCORD_WRITE_VECTORS=1` rewrites the file, otherwise the test
/// requires it to be byte-identical and checks every case against `BundleFile`.
@Suite("Bundle file vectors", .serialized)
struct BundleFileVectorTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
    static let path = root + "/Specs/vectors/bundle_files.jsonl"

    struct Case {
        var name: String
        var description: String
        var expected: String
        var bytes: [UInt8]
        var bundles: [[UInt8]] = []
        var spaceID: [UInt8] = []
    }

    static func hex(_ bytes: some Sequence<UInt8>) -> String {
        bytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
    }

    static func unhex(_ text: String) -> [UInt8] {
        let chars = Array(text.utf8)
        return stride(from: 0, to: chars.count, by: 2).map { UInt8(String(decoding: chars[$0..<($0 + 2)], as: UTF8.self), radix: 16)! }
    }

    static func varint(_ value: Int) -> [UInt8] {
        var v = UInt64(value)
        var out: [UInt8] = []
        repeat {
            let byte = UInt8(v & 0x7f)
            v >>= 7
            out.append(v == 0 ? byte : byte | 0x80)
        } while v != 0
        return out
    }

    /// magic | version | space | entries, then the BLAKE2b-256 of all that.
    static func file(version: UInt8 = 1, space: [UInt8], entries: [[UInt8]]) -> [UInt8] {
        var body = Array("CNCF".utf8) + [version] + space
        for entry in entries { body += entry }
        return body + Blake2b.hash(body).bytes
    }

    static func entry(_ bundle: [UInt8]) -> [UInt8] { varint(bundle.count) + bundle }

    static func cases() throws -> [Case] {
        var published: [String: [UInt8]] = [:]
        for line in try String(contentsOfFile: root + "/Specs/vectors/bundles.jsonl", encoding: .utf8).split(separator: "\n") {
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
            published[object["name"] as! String] = unhex(object["bundle_hex"] as! String)
        }
        let b1 = published["plaintext_first_bundle"]!
        let b2 = published["plaintext_second_bundle_chained"]!
        let space = Array(b1[6..<38])
        let two = file(space: space, entries: [entry(b1), entry(b2)])
        func flipped(_ bytes: [UInt8], _ offset: Int) -> [UInt8] {
            var copy = bytes
            copy[offset] ^= 0x01
            return copy
        }
        return [
            Case(name: "no_bundles", description: "header and checksum only: a valid empty file", expected: "valid",
                 bytes: file(space: space, entries: []), spaceID: space),
            Case(name: "one_bundle", description: "the bundle of plaintext_first_bundle (415 bytes, length varint 9f 03)", expected: "valid",
                 bytes: file(space: space, entries: [entry(b1)]), bundles: [b1], spaceID: space),
            Case(name: "two_bundles", description: "plaintext_first_bundle then plaintext_second_bundle_chained", expected: "valid",
                 bytes: two, bundles: [b1, b2], spaceID: space),
            Case(name: "empty_input", description: "zero bytes", expected: "truncatedFile", bytes: []),
            Case(name: "truncated_magic", description: "the first 3 bytes of two_bundles", expected: "truncatedFile", bytes: Array(two.prefix(3))),
            Case(name: "truncated_header", description: "the first 20 bytes of two_bundles", expected: "truncatedFile", bytes: Array(two.prefix(20))),
            Case(name: "truncated_below_minimum", description: "the first 68 bytes of two_bundles, one less than an empty file", expected: "truncatedFile",
                 bytes: Array(two.prefix(68))),
            Case(name: "truncated_in_bundle", description: "two_bundles cut inside the first bundle", expected: "checksumMismatch", bytes: Array(two.prefix(250))),
            Case(name: "truncated_between_bundles", description: "two_bundles cut after the first entry", expected: "checksumMismatch",
                 bytes: Array(two.prefix(37 + 2 + b1.count))),
            Case(name: "truncated_checksum", description: "two_bundles without its last byte", expected: "checksumMismatch", bytes: Array(two.dropLast())),
            Case(name: "trailing_byte", description: "two_bundles followed by one 00 byte", expected: "checksumMismatch", bytes: two + [0]),
            Case(name: "flipped_space_id_bit", description: "two_bundles with bit 0 of byte 5 (the space id) flipped", expected: "checksumMismatch",
                 bytes: flipped(two, 5)),
            Case(name: "flipped_bundle_bit", description: "two_bundles with bit 0 of byte 300 (inside the first bundle) flipped", expected: "checksumMismatch",
                 bytes: flipped(two, 300)),
            Case(name: "flipped_checksum_bit", description: "two_bundles with bit 0 of its last byte flipped", expected: "checksumMismatch",
                 bytes: flipped(two, two.count - 1)),
            Case(name: "bundle_not_file", description: "a bare change bundle (magic CNCB) given as a file", expected: "notABundleFile", bytes: b1),
            Case(name: "unsupported_version", description: "version byte 02, checksum recomputed", expected: "unsupportedVersion",
                 bytes: file(version: 2, space: space, entries: [entry(b1)])),
            Case(name: "entry_overruns_checksum", description: "an entry declaring one byte more than remain, checksum recomputed", expected: "malformedFile",
                 bytes: file(space: space, entries: [varint(b1.count + 1) + b1])),
            Case(name: "entry_zero_length", description: "an entry of length 0, checksum recomputed", expected: "malformedFile",
                 bytes: file(space: space, entries: [[0x00], entry(b1)])),
            Case(name: "entry_non_minimal_length", description: "the length 415 as 9f 83 00 (not minimal), checksum recomputed", expected: "malformedFile",
                 bytes: file(space: space, entries: [[0x9f, 0x83, 0x00] + b1])),
            Case(name: "entry_not_a_bundle", description: "an entry of 40 zero bytes, checksum recomputed", expected: "malformedFile",
                 bytes: file(space: space, entries: [entry([UInt8](repeating: 0, count: 40))])),
            Case(name: "entry_of_other_space", description: "the header names space 11 x 32, the bundle another, checksum recomputed", expected: "malformedFile",
                 bytes: file(space: [UInt8](repeating: 0x11, count: 32), entries: [entry(b1)])),
            // Added for the mutation harness (Tools/reference/mutants.py): the order of the
            // checks of section 10.3, and a rule another check used to hide.
            Case(name: "short_input_not_a_bundle_file", description: "5 bytes that do not start with CNCF: the magic is compared before the length",
                 expected: "notABundleFile", bytes: Array("hello".utf8)),
            Case(name: "short_input_not_a_magic_prefix", description: "the 3 bytes CNX: not a prefix of the magic", expected: "notABundleFile", bytes: Array("CNX".utf8)),
            Case(name: "unsupported_version_stale_checksum", description: "one_bundle with its version byte changed to 02 and the checksum left as it was: the version is checked before the checksum",
                 expected: "unsupportedVersion", bytes: { var bytes = file(space: space, entries: [entry(b1)]); bytes[4] = 2; return bytes }()),
            Case(name: "entry_not_a_bundle_with_space_id", description: "an entry of 80 bytes that carries the file's space id at bytes 6-37 but starts with XXXX, checksum recomputed",
                 expected: "malformedFile", bytes: file(space: space, entries: [entry(Array("XXXX".utf8) + [2, 0] + space + [UInt8](repeating: 0, count: 42))])),
        ]
    }

    static func line(_ c: Case) -> String {
        func s(_ text: String) -> String { "\"" + text.replacingOccurrences(of: "\"", with: "\\\"") + "\"" }
        var parts = ["\"name\":" + s(c.name), "\"description\":" + s(c.description), "\"expected\":" + s(c.expected), "\"hex\":" + s(hex(c.bytes))]
        if c.expected == "valid" {
            parts.append("\"space_id_hex\":" + s(hex(c.spaceID)))
            parts.append("\"bundles_hex\":[" + c.bundles.map { s(hex($0)) }.joined(separator: ",") + "]")
            parts.append("\"checksum_hex\":" + s(hex(c.bytes.suffix(32))))
        }
        return "{" + parts.joined(separator: ",") + "}"
    }

    @Test("the vector file is what the builder makes (CONCORD_WRITE_VECTORS=1 rewrites it)")
    func fileIsCurrent() throws {
        let text = try Self.cases().map(Self.line).joined(separator: "\n") + "\n"
        if ProcessInfo.processInfo.environment["CONCORD_WRITE_VECTORS"] == "1" {
            try text.write(toFile: Self.path, atomically: true, encoding: .utf8)
        }
        #expect(try String(contentsOfFile: Self.path, encoding: .utf8) == text, "run with CONCORD_WRITE_VECTORS=1 to regenerate")
    }

    @Test("every case decodes, or fails with its named error")
    func conformance() throws {
        let lines = try String(contentsOfFile: Self.path, encoding: .utf8).split(separator: "\n")
        #expect(lines.count >= 20)
        for line in lines {
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
            let name = object["name"] as! String
            let bytes = Self.unhex(object["hex"] as! String)
            let expected = object["expected"] as! String
            do {
                let file = try BundleFile(bytes: bytes)
                #expect(expected == "valid", "\(name) decoded but expected \(expected)")
                #expect(Self.hex(file.spaceID.bytes) == object["space_id_hex"] as? String, "\(name)")
                let bundles = (0..<file.count).map { Self.hex(file.bundleBytes(at: $0)) }
                #expect(bundles == object["bundles_hex"] as? [String], "\(name)")
                // The in-memory encoder writes exactly these bytes.
                #expect(BundleFile.encode(spaceID: file.spaceID, bundles: (0..<file.count).map { Array(file.bundleBytes(at: $0)) }) == bytes, "\(name)")
            } catch {
                #expect("\(error.code)" == expected, "\(name): \(error.message)")
            }
        }
    }
}

// Specs/vectors/snapshots.jsonl: snapshot manifests and chunks (Specs/snapshots.md §4.2,
// §4.4). Each case gives the manifest and its chunks in hex (and the epoch key of an
// encrypted one); a reader decodes the manifest (structure, limits, signature), decodes
// every chunk against it (length, id, header), opens and decodes the records (order across
// chunks, canonical record states) and checks the counts and the state digest. A valid case
// states the snapshot id, V, the counts, the state digest and every record; an invalid one
// the error code of the first failing check. Invalid cases that change signed bytes are
// re-signed, so a reader that skipped the signature still meets the rule they break; the
// "unsorted" and "state digest" cases are signed over consistent manifests, so only a
// reader checking the order and the digest refuses them.
import Concord
import ConcordCore
import ConcordCrypto

@MainActor var snapshotLines: [String] = []

@MainActor func addSnapshotVectors() {
    let signer = try! Identity(seed: [UInt8](repeating: 0x41, count: 32))
    let other = try! Identity(seed: [UInt8](repeating: 0x42, count: 32))
    let spaceID = try! Identity(seed: [UInt8](repeating: 0x43, count: 32)).publicKey
    let epoch = EpochKey(key: try! SymmetricKey(bytes: [UInt8](repeating: 0x44, count: 32)))
    let me = ReplicaID(bytes: signer.publicKey.bytes)!
    let them = ReplicaID(bytes: other.publicKey.bytes)!
    let checkpoint = BundleID(digest: Blake2b.hash(Array("checkpoint".utf8)))
    let controls = (0..<3).map { BundleID(digest: Blake2b.hash([UInt8]($0 == 2 ? [] : [UInt8($0)]))) }
    let links = [
        SnapshotManifest.Link(author: signer.publicKey, sequence: 12, bundle: BundleID(digest: Blake2b.hash([0x0c])), hlcMax: HLCTimestamp(milliseconds: 1_700_000_050_000, counter: 2)),
        SnapshotManifest.Link(author: other.publicKey, sequence: 3, bundle: BundleID(digest: Blake2b.hash([0x03])), hlcMax: HLCTimestamp(milliseconds: 1_700_000_040_000, counter: 0)),
    ]
    let madeAt = HLCTimestamp(milliseconds: 1_700_000_060_000, counter: 0)

    // A state of 24 records: sets, OR-set adds and removes, deletes (stubs after pruning).
    var state = ReplicaState()
    for i in 0..<24 {
        let id = RecordID(high: UInt64(i % 5) << 56 | 0x1234, low: UInt64(i))
        let author = i % 3 == 0 ? them : me
        let collection = ["notes", "tasks", "Été"][i % 3]
        let at = { (ms: UInt64) in Stamp(hlc: HLCTimestamp(milliseconds: 1_700_000_000_000 + ms, counter: 0), replica: author) }
        state.apply(RecordOperation(stamp: at(UInt64(i) * 10), collection: collection, record: id, action: .set(field: "title", value: .string("record \(i)"))))
        state.apply(RecordOperation(stamp: at(UInt64(i) * 10 + 1), collection: collection, record: id, action: .add(field: "tags", value: .string("t\(i % 4)"))))
        if i % 4 == 1 {
            state.apply(RecordOperation(stamp: at(UInt64(i) * 10 + 2), collection: collection, record: id, action: .remove(field: "tags", value: .string("t\(i % 4)"), observed: [at(UInt64(i) * 10 + 1)])))
        }
        if i % 6 == 5 { state.apply(RecordOperation(stamp: at(UInt64(i) * 10 + 5), collection: collection, record: id, action: .delete)) }
    }
    var pruned = state
    for record in state.recordsInKeyOrder {
        // Prune each record at a frontier past every stamp: tombstones and hidden writes go.
        let full = Frontier([me: HLCTimestamp(rawValue: .max), them: HLCTimestamp(rawValue: .max)])
        if let p = record.state.pruned(frontier: full) { pruned.insertRecord(p, id: record.id, in: record.collection) }
    }
    let records = pruned.recordsInKeyOrder.map { SnapshotRecord(collection: $0.collection, id: $0.id, state: $0.state) }
    let membershipDigest = SnapshotManifest.membershipDigest(of: controls)

    func seal(_ records: [SnapshotRecord], chunkLimit: Int, key: EpochKey? = nil, by identity: Identity = signer) -> SealedSnapshot {
        var writer = SnapshotWriter(chunkLimit: chunkLimit)
        var visible = ReplicaState()
        for record in records {
            writer.append(record)
            visible.insertRecord(record.state, id: record.id, in: record.collection)
        }
        return SealedSnapshot.seal(
            space: spaceID, madeAt: madeAt, key: key, checkpoint: checkpoint, links: links, membershipDigest: membershipDigest,
            visibleDigest: visible.digest, writer: &writer, signer: identity,
            nonces: { try! XChaCha20Poly1305.Nonce(bytes: [UInt8](repeating: UInt8(0x50 + $0), count: 24)) })
    }

    /// Signs raw signed bytes again (after a deliberate change) as `signer`.
    func resign(_ signed: [UInt8]) -> [UInt8] { signed + signer.sign(signed).bytes }
    func signedPart(_ manifest: SnapshotManifest) -> [UInt8] { Array(manifest.bytes.dropLast(64)) }

    /// A snapshot built from raw plaintexts with a manifest consistent with them (counts and
    /// state digest computed from what is there), signed: only the rule it breaks refuses it.
    func raw(_ plaintexts: [[UInt8]], records: UInt64, live: UInt64, stubs: UInt64, stateDigest: Digest32? = nil) -> SealedSnapshot {
        var w = ByteWriter()
        SnapshotManifest.write(links.sorted { $0.author < $1.author }, to: &w)
        let digest = stateDigest ?? SnapshotManifest.stateDigest(vectorEncoding: w.bytes, plaintexts: plaintexts)
        let chunks = plaintexts.enumerated().map { SnapshotChunk(sealing: $0.element, index: $0.offset, stateDigest: digest, key: nil) }
        let draft = SnapshotManifest.Draft(
            space: spaceID, madeAt: madeAt, keyID: nil, checkpoint: checkpoint, links: links, membershipDigest: membershipDigest,
            visibleDigest: pruned.digest, stateDigest: digest, recordCount: records, liveRecordCount: live, stubCount: stubs,
            plaintextBytes: UInt64(plaintexts.reduce(0) { $0 + $1.count }), chunks: chunks.map { .init(id: $0.id, length: $0.bytes.count) })
        return SealedSnapshot(manifest: SnapshotManifest(signing: draft, with: signer), chunks: chunks.map(\.bytes))
    }
    func encode(_ records: [SnapshotRecord]) -> [UInt8] {
        var w = ByteWriter()
        for record in records { record.encode(into: &w) }
        return w.bytes
    }
    let live = UInt64(records.count { $0.state.isVisible })
    let stubs = UInt64(records.count { $0.isStub })

    func add(_ name: String, _ description: String, manifest: [UInt8], chunks: [[UInt8]], keyByte: UInt8? = nil) {
        let key = keyByte.map { EpochKey(key: try! SymmetricKey(bytes: [UInt8](repeating: $0, count: 32))) }
        var pairs: [(String, JSON)] = [("name", .string(name)), ("description", .string(description))]
        var result: [(String, JSON)] = []
        do {
            let snapshot = try SealedSnapshot.decode(manifest: manifest, chunks: chunks)
            let decoded = try snapshot.records(key: key)
            let m = snapshot.manifest
            result = [
                ("expected", .string("valid")), ("snapshot_id_hex", .string(m.id.hex)), ("author_hex", .string(m.author.hex)),
                ("state_digest_hex", .string(m.stateDigest.hex)), ("visible_digest_hex", .string(hex(m.visibleDigest))),
                ("vector", .array(m.links.map { .object([("author_hex", .string($0.author.hex)), ("seq", .number($0.sequence)), ("bundle_id_hex", .string($0.bundle.hex)), ("hlc_max", .string(String($0.hlcMax.rawValue)))]) })),
                ("records", .number(m.recordCount)), ("live_records", .number(m.liveRecordCount)), ("stubs", .number(m.stubCount)),
                ("record_states", .array(decoded.map { .object([("collection", .string($0.collection)), ("id_hex", .string(hex($0.id.bytes))), ("state_hex", .string(hex($0.state.storageEncoding())))]) })),
            ]
        } catch {
            result = [("expected", .string(error.code.description))]
        }
        pairs += result.prefix(1)
        pairs += [("manifest_hex", .string(hex(manifest))), ("chunks_hex", .array(chunks.map { .string(hex($0)) }))]
        if let keyByte { pairs.append(("epoch_key_hex", .string(hex([UInt8](repeating: keyByte, count: 32))))) }
        pairs += result.dropFirst()
        snapshotLines.append(line(pairs))
    }
    func expect(_ name: String, _ code: String) {
        guard let last = snapshotLines.last, last.contains("\"expected\":\"\(code)\"") else {
            problems.append("snapshot \(name): expected \(code): \(snapshotLines.last ?? "")")
            return
        }
    }

    // Valid.
    let three = seal(records, chunkLimit: 400)
    add("valid_plaintext_chunks", "24 records (live, hidden with tombstones gone, stubs) in several chunks of at most 400 plaintext bytes", manifest: three.manifest.bytes, chunks: three.chunks)
    expect("valid", "valid")
    if three.chunks.count < 3 { problems.append("snapshot valid_plaintext_chunks: only \(three.chunks.count) chunks") }
    let one = seal(records, chunkLimit: 1 << 22)
    add("valid_one_chunk_same_state_digest", "the same records in one chunk: same state digest, another snapshot id", manifest: one.manifest.bytes, chunks: one.chunks)
    if one.manifest.stateDigest != three.manifest.stateDigest { problems.append("snapshot: state digest depends on chunking") }
    let empty = seal([], chunkLimit: 400)
    add("valid_empty", "no record: one chunk with an empty plaintext", manifest: empty.manifest.bytes, chunks: empty.chunks)
    let sealed = seal(records, chunkLimit: 600, key: epoch)
    add("valid_encrypted", "encrypted under the epoch key (44 x 32), nonces 50.., 51..", manifest: sealed.manifest.bytes, chunks: sealed.chunks, keyByte: 0x44)
    expect("valid_encrypted", "valid")

    // Manifest structure.
    var m = three.manifest.bytes
    m[70] ^= 0x01
    add("manifest_bit_flipped_in_made_at", "one bit of made-at changed, signature not renewed", manifest: m, chunks: three.chunks)
    expect("flip", "invalidSignature")
    add("manifest_signed_by_another_key", "the author field names the signer, the signature is by another key",
        manifest: signedPart(three.manifest) + other.sign(signedPart(three.manifest)).bytes, chunks: three.chunks)
    expect("other key", "invalidSignature")
    m = three.manifest.bytes; m[0] = UInt8(ascii: "X")
    add("manifest_bad_magic", "XNCS", manifest: m, chunks: three.chunks)
    expect("magic", "malformedSnapshot")
    m = signedPart(three.manifest); m[4] = 2
    add("manifest_version_2", "format 2, re-signed", manifest: resign(m), chunks: three.chunks)
    expect("version", "unsupportedVersion")
    m = signedPart(three.manifest); m[5] = 0x02
    add("manifest_reserved_flag", "flag bit 1 set, re-signed", manifest: resign(m), chunks: three.chunks)
    expect("flag", "malformedSnapshot")
    add("manifest_trailing_byte", "a byte after the signature", manifest: three.manifest.bytes + [0], chunks: three.chunks)
    expect("trailing", "malformedSnapshot")
    add("manifest_truncated_signature", "the last signature byte missing", manifest: Array(three.manifest.bytes.dropLast()), chunks: three.chunks)
    expect("truncated", "malformedSnapshot")
    // Links: offset of the first link = 4+1+1+32+32+8+32 = 110, then the varint count at 110.
    let linkStart = 111
    let linkSize = 32 + 1 + 32 + 8
    m = signedPart(three.manifest)
    let first = Array(m[linkStart..<linkStart + linkSize]), second = Array(m[linkStart + linkSize..<linkStart + 2 * linkSize])
    m.replaceSubrange(linkStart..<linkStart + 2 * linkSize, with: second + first)
    add("manifest_links_unsorted", "the two links in decreasing author order, re-signed", manifest: resign(m), chunks: three.chunks)
    expect("unsorted links", "malformedSnapshot")
    m = signedPart(three.manifest)
    m.replaceSubrange(linkStart + linkSize..<linkStart + 2 * linkSize, with: first)
    add("manifest_link_repeated", "the same author twice, re-signed", manifest: resign(m), chunks: three.chunks)
    expect("repeated link", "malformedSnapshot")
    m = signedPart(three.manifest); m[linkStart + 32] = 0
    add("manifest_link_sequence_0", "a link of sequence 0, re-signed", manifest: resign(m), chunks: three.chunks)
    expect("seq 0", "malformedSnapshot")
    // Counts: after links come three digests (96 bytes), then records, live, stubs, plaintext bytes.
    let countsStart = linkStart + 2 * linkSize + 96
    m = signedPart(three.manifest); m[countsStart + 1] = m[countsStart] + 1
    add("manifest_more_live_than_records", "live records one more than records, re-signed", manifest: resign(m), chunks: three.chunks)
    expect("live", "malformedSnapshot")
    var w = ByteWriter()
    w.write(contentsOf: signedPart(three.manifest).prefix(countsStart))
    w.writeVarint(three.manifest.recordCount); w.writeVarint(three.manifest.liveRecordCount); w.writeVarint(three.manifest.stubCount)
    w.writeVarint(three.manifest.plaintextBytes); w.writeVarint(0)
    add("manifest_zero_chunks", "a chunk count of 0, re-signed", manifest: resign(w.bytes), chunks: [])
    expect("zero chunks", "malformedSnapshot")

    // Chunks.
    var c = three.chunks
    c[1][c[1].count - 1] ^= 0x01
    add("chunk_altered", "the last byte of chunk 1 changed: its id no longer matches", manifest: three.manifest.bytes, chunks: c)
    expect("chunk altered", "malformedSnapshot")
    c = three.chunks; c.swapAt(0, 1)
    add("chunks_swapped", "chunks 0 and 1 in each other's place", manifest: three.manifest.bytes, chunks: c)
    expect("swapped", "malformedSnapshot")
    add("chunk_missing", "the last chunk missing", manifest: three.manifest.bytes, chunks: Array(three.chunks.dropLast()))
    expect("missing", "malformedSnapshot")
    add("chunk_of_another_snapshot", "chunk 0 of the one-chunk snapshot given as chunk 0", manifest: three.manifest.bytes, chunks: [one.chunks[0]] + three.chunks.dropFirst())
    expect("other snapshot", "malformedSnapshot")
    c = sealed.chunks
    add("encrypted_wrong_key", "the encrypted snapshot opened with another epoch key (45 x 32)", manifest: sealed.manifest.bytes, chunks: c, keyByte: 0x45)
    expect("wrong key", "invalidKey")

    // Records: consistent, signed manifests whose content breaks a rule.
    let half = records.count / 2
    add("records_unsorted_within_chunk", "two records swapped inside one chunk; counts and state digest computed over what is there",
        manifest: raw([encode([records[1], records[0]] + records[2...])], records: UInt64(records.count), live: live, stubs: stubs).manifest.bytes,
        chunks: raw([encode([records[1], records[0]] + records[2...])], records: UInt64(records.count), live: live, stubs: stubs).chunks)
    expect("unsorted", "malformedSnapshot")
    let across = raw([encode(Array(records[half...])), encode(Array(records[..<half]))], records: UInt64(records.count), live: live, stubs: stubs)
    add("records_unsorted_across_chunks", "the second half of the records in chunk 0, the first half in chunk 1", manifest: across.manifest.bytes, chunks: across.chunks)
    expect("across", "malformedSnapshot")
    let duplicate = raw([encode(Array(records[..<half])), encode(Array(records[(half - 1)...]))], records: UInt64(records.count + 1), live: live + (records[half - 1].state.isVisible ? 1 : 0), stubs: stubs + (records[half - 1].isStub ? 1 : 0))
    add("record_repeated_across_chunks", "the last record of chunk 0 again at the start of chunk 1", manifest: duplicate.manifest.bytes, chunks: duplicate.chunks)
    expect("duplicate", "malformedSnapshot")
    let gap = raw([encode(Array(records[..<half])), [], encode(Array(records[half...]))], records: UInt64(records.count), live: live, stubs: stubs)
    add("empty_chunk_between", "an empty chunk between two others", manifest: gap.manifest.bytes, chunks: gap.chunks)
    expect("empty chunk", "malformedSnapshot")
    var state1 = encode([records[0]])
    state1.append(0x05)
    let trailing = raw([state1], records: 1, live: records[0].state.isVisible ? 1 : 0, stubs: records[0].isStub ? 1 : 0)
    add("chunk_plaintext_trailing_byte", "a chunk whose plaintext ends in a partial record", manifest: trailing.manifest.bytes, chunks: trailing.chunks)
    expect("trailing plaintext", "malformedSnapshot")
    let miscount = raw([encode(records)], records: UInt64(records.count + 1), live: live, stubs: stubs)
    add("record_count_off_by_one", "the manifest states one record more than the chunks hold", manifest: miscount.manifest.bytes, chunks: miscount.chunks)
    expect("count", "snapshotMismatch")
    let liveOff = raw([encode(records)], records: UInt64(records.count), live: live - 1, stubs: stubs)
    add("live_count_off_by_one", "the manifest states one live record fewer", manifest: liveOff.manifest.bytes, chunks: liveOff.chunks)
    expect("live count", "snapshotMismatch")
    var vectorOnly = ByteWriter()
    SnapshotManifest.write([links[1]], to: &vectorOnly)
    let digestOff = raw([encode(records)], records: UInt64(records.count), live: live, stubs: stubs,
                        stateDigest: SnapshotManifest.stateDigest(vectorEncoding: vectorOnly.bytes, plaintexts: [encode(records)]))
    add("state_digest_over_another_vector", "the state digest computed over V without the signer's link", manifest: digestOff.manifest.bytes, chunks: digestOff.chunks)
    expect("digest", "snapshotMismatch")
    let unsortedDigest = raw([encode(records)], records: UInt64(records.count), live: live, stubs: stubs,
                             stateDigest: SnapshotManifest.stateDigest(vectorEncoding: three.manifest.vectorEncoding, plaintexts: [encode(records.reversed())]))
    add("state_digest_over_unsorted_records", "the state digest computed over the records in reverse order", manifest: unsortedDigest.manifest.bytes, chunks: unsortedDigest.chunks)
    expect("unsorted digest", "snapshotMismatch")
    // A record state not in its canonical encoding: a stub of version 1 written as version 2 with sequence... use an
    // unknown record-state version instead, which every decoder must refuse.
    var bad = ByteWriter()
    bad.writeString("notes"); bad.write(contentsOf: records[0].id.bytes); bad.writeLengthPrefixed([0x07])
    let badState = raw([bad.bytes], records: 1, live: 0, stubs: 0)
    add("record_state_unknown_version", "a record state of version 7", manifest: badState.manifest.bytes, chunks: badState.chunks)
    expect("record state", "malformedSnapshot")
    add("encrypted_without_key", "the encrypted snapshot read without a key", manifest: sealed.manifest.bytes, chunks: sealed.chunks)
    expect("no key", "invalidKey")
    var flipped = sealed.chunks
    let tail = flipped[0].count - 1
    flipped[0][tail] ^= 1
    add("encrypted_chunk_altered", "the encrypted chunk 0's tag altered", manifest: sealed.manifest.bytes, chunks: flipped, keyByte: 0x44)
    expect("encrypted altered", "malformedSnapshot")
}

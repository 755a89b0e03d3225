import ConcordCore
import ConcordCrypto
import ConcordProtocol

// libFuzzer target for the decoders of the membership model (`Specs/membership.md`):
// the control payload (§3, `MembershipOp(payload:encrypted:)`, in both an unencrypted and
// an encrypted space), the invite token of format 2 (§4, `MemberInviteToken.decode` on the
// bytes and `MemberInviteToken(_:)` on the bytes read as text) and the history blob (§3,
// `EpochField.openHistoryBlob` under a fixed key). Built by Fuzz/run.sh like the bundle
// target: ConcordCore, ConcordCrypto and ConcordProtocol as modules, this file linked
// against them.
//
// Invariants (a violation traps, and libFuzzer keeps the input as a crash):
// - nothing crashes, hangs or allocates beyond what the input justifies (ASan, -timeout);
// - each decoder fails only with the codes it documents;
// - what decodes is canonical: a control payload re-encodes to the input bytes, a token to
//   its bytes (and its text reads back to the same bytes);
// - a history blob opens only if it is a valid encryption under the fixed key, which
//   libFuzzer cannot make from nothing: any opened blob re-encrypts to the same entries.

let historyKey = EpochKey(key: try! SymmetricKey(bytes: [UInt8](repeating: 0x71, count: 32)))

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzMembership(_ start: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: start, count: count))
    for encrypted in [false, true] {
        do {
            let op = try MembershipOp(payload: bytes, encrypted: encrypted)
            precondition(op.encoded() == bytes, "a control payload decoded but is not canonical")
        } catch {
            // encryptionMismatch: a genesis whose flag is not `encrypted` (found by this target:
            // Tests/Fixtures/regressions/membership-genesis-read-as-encrypted.bin).
            precondition(
                [.malformedBundle, .encryptionMismatch].contains(error.code), "control payload: undocumented \(error.code)")
        }
    }
    let tokenCodes: [ConcordError.Code] = [.invalidInvite, .inviteChecksumMismatch, .unsupportedVersion]
    do {
        let token = try MemberInviteToken.decode(bytes)
        precondition(token.encoded() == bytes, "token bytes decoded but are not canonical")
        precondition((try? MemberInviteToken(token.text))?.encoded() == bytes, "a token's text does not read back")
    } catch {
        precondition(tokenCodes.contains(error.code), "token bytes: undocumented \(error.code)")
    }
    do {
        let token = try MemberInviteToken(String(decoding: bytes, as: UTF8.self))
        precondition(try! MemberInviteToken(token.text).encoded() == token.encoded(), "a token's text does not read back")
    } catch {
        precondition(tokenCodes.contains(error.code), "token text: undocumented \(error.code)")
    }
    do {
        let keys = try EpochField.openHistoryBlob(bytes, with: historyKey)
        precondition(bytes.isEmpty || !keys.isEmpty, "a non-empty history blob opened to no keys")
    } catch {
        precondition([.malformedBundle, .decryptionFailed].contains(error.code), "history blob: undocumented \(error.code)")
    }
    return 0
}

import ConcordCore
import ConcordCrypto

extension MembershipOp {
    /// The body of a `set-policy` op (`Specs/permissions.md` §3.2): its form byte and what
    /// follows it. Membership treats the body as opaque bytes; the permission layer reads it
    /// (``MembershipState/AppliedPolicy/open(header:key:encrypted:)``).
    ///
    /// ```swift
    /// let op = MembershipOp.setPolicy(seen: log.versionVector, form: .plaintext(policy.body))
    /// ```
    public enum PolicyForm: Hashable, Sendable {
        /// `00`: clears the policy; the space behaves as without one from then on (§2.6).
        case clear
        /// `01`: the canonical body in plaintext; only in an unencrypted space.
        case plaintext([UInt8])
        /// `02`: `nonce ‖ XChaCha20-Poly1305(body)` under the epoch key `keyID`, with the
        /// control bundle's header as associated data; only in an encrypted space.
        case sealed(keyID: EpochKeyID, blob: [UInt8])

        /// Reads the body (`Specs/permissions.md` §3.2): cleared, a policy, unreadable (a
        /// sealed body under a key not given) or broken (it does not authenticate under the
        /// key and `header`, or does not decode).
        ///
        /// ```swift
        /// let content = form.open(header: controlBundle.header, key: epochKey, encrypted: true)
        /// ```
        /// - Parameters:
        ///   - header: The header (bytes `[0, H)`) of the control bundle carrying the op.
        ///   - key: The epoch key the body names, if held; ignored unless sealed.
        ///   - encrypted: Whether the space encrypts payloads.
        /// - Returns: What the body says.
        public func open(header: some Collection<UInt8>, key: EpochKey?, encrypted: Bool) -> MembershipState.PolicyContent {
            let body: [UInt8]
            switch self {
            case .clear:
                return .cleared
            case .plaintext(let bytes):
                body = bytes
            case let .sealed(keyID, blob):
                guard let key, key.id == keyID else { return .unreadable(keyID) }
                do {
                    let box = try XChaCha20Poly1305.SealedBox(combined: blob)
                    body = try XChaCha20Poly1305.open(box, using: key.key, authenticating: Array(header))
                } catch {
                    return .broken(
                        "the sealed policy body does not authenticate under epoch key \(keyID.hex) and its control bundle's header")
                }
            }
            do {
                return .policy(try Policy(body: body, encrypted: encrypted))
            } catch {
                return .broken(error.message)
            }
        }

        /// The form byte: `00`, `01` or `02`.
        public var byte: UInt8 {
            switch self {
            case .clear: 0
            case .plaintext: 1
            case .sealed: 2
            }
        }
    }

    /// The largest sealed blob: a 24-byte nonce, the largest body and a 16-byte tag (16,424).
    public static let maxSealedPolicyBytes =
        XChaCha20Poly1305.nonceByteCount + Policy.maxBodyBytes + XChaCha20Poly1305.tagByteCount

    /// The most entries a `seen` vector holds (65,536).
    public static let maxVectorEntries = 65_536

    /// The most role-refs a scope names: 32 policy roles, `writer` and `reader` (34).
    public static let maxScopeReaders = 34

    /// Why `ref` is not a role-ref of a read scope (`writer`, `reader` or a policy role
    /// name, `Specs/permissions.md` §2.1), or `nil` when it is one.
    static func scopeReaderProblem(_ ref: String) -> String? {
        ref == "writer" || ref == "reader" ? nil : Policy.roleNameProblem(ref)
    }

    static func readScopeReaders(_ r: inout ByteReader) throws -> [String] {
        let start = r.offset
        let count = try r.readCount(minimumItemSize: 2, what: "scope role")
        guard (1...maxScopeReaders).contains(count) else {
            throw ConcordError(
                .malformedBundle, "membership op: a scope of \(count) roles at byte \(start) (it must be 1 to \(maxScopeReaders))")
        }
        var readers: [String] = []
        for _ in 0..<count {
            let ref = try r.readString()
            if let problem = scopeReaderProblem(ref) { throw r.error("scope role: \(problem)") }
            guard readers.last.map({ PolicyText.less($0, ref) }) ?? true else {
                throw r.error("the scope's roles are not strictly increasing (unsorted or repeated)")
            }
            readers.append(ref)
        }
        return readers
    }

    static func write(_ seen: VersionVector, _ form: PolicyForm, to w: inout ByteWriter) {
        write(seen, to: &w)
        w.write(form.byte)
        switch form {
        case .clear: break
        case .plaintext(let body): w.writeLengthPrefixed(body)
        case .sealed(let keyID, let blob):
            w.write(contentsOf: keyID.bytes)
            w.writeLengthPrefixed(blob)
        }
    }

    static func readSetPolicy(_ r: inout ByteReader, encrypted: Bool) throws -> MembershipOp {
        let seen = try readVector(&r, "seen")
        let formByte = try r.readByte()
        let form: PolicyForm
        switch formByte {
        case 0:
            form = .clear
        case 1:
            guard !encrypted else { throw r.error("a plaintext policy (form 01) in an encrypted space (its body must be sealed, form 02)") }
            let body = try r.readLengthPrefixed()
            guard body.count <= Policy.maxBodyBytes else {
                throw r.error("a policy body of \(body.count) bytes (at most \(Policy.maxBodyBytes))")
            }
            form = .plaintext(body)
        case 2:
            guard encrypted else { throw r.error("a sealed policy (form 02) in an unencrypted space (its body is plaintext, form 01)") }
            let keyID = try EpochKeyID(bytes: r.readBytes(EpochKeyID.byteCount))
            let blob = try r.readLengthPrefixed()
            guard blob.count <= maxSealedPolicyBytes else {
                throw r.error("a sealed policy of \(blob.count) bytes (at most \(maxSealedPolicyBytes))")
            }
            form = .sealed(keyID: keyID, blob: blob)
        default:
            throw r.error("policy form \(formByte) is not known (00 clear, 01 plaintext, 02 sealed)")
        }
        return .setPolicy(seen: seen, form: form)
    }
}

import ConcordCore
import ConcordCrypto

extension MembershipState {
    /// An applied `set-policy` op (`Specs/permissions.md` §3.2): the admin's `seen` vector,
    /// the body as carried, and the op.
    ///
    /// ```swift
    /// if let governing = state.governingPolicy(author: device, sequence: 7) {
    ///     switch governing.open(header: controlBundle.header, key: key, encrypted: state.isEncrypted) {
    ///     case .policy(let policy): print(policy.normalizedJSON)
    ///     case .cleared: print("no policy")
    ///     case .unreadable(let keyID): print("waiting for key \(keyID)")
    ///     case .broken(let why): print("broken policy: \(why)")
    ///     }
    /// }
    /// ```
    public struct AppliedPolicy: Hashable, Sendable {
        /// What the admin held when it set the policy: the policy governs every bundle
        /// `(A, k)` with `k > seen[A]`.
        public let seen: VersionVector
        /// The body: cleared, plaintext or sealed.
        public let form: MembershipOp.PolicyForm
        /// The `set-policy` op.
        public let by: MembershipOpReference

        /// Whether this policy governs bundle `sequence` of `author` if no later policy
        /// does: `sequence > seen[author]` (an absent author is 0).
        /// - Parameters:
        ///   - author: The data bundle's author.
        ///   - sequence: Its position `k`.
        public func covers(author: PublicKey, sequence: UInt64) -> Bool { sequence > seen[author] }

        /// Reads the body (`Specs/permissions.md` §3.2): a cleared policy, a policy, one
        /// whose epoch key this device does not hold yet (unreadable: the bundles it governs
        /// wait), or one that does not authenticate or decode (broken: only admins write).
        /// - Parameters:
        ///   - header: The header (bytes `[0, H)`) of the control bundle carrying the op,
        ///     the associated data of a sealed body (``ChangeBundle/header``).
        ///   - key: The epoch key the body names, if this device holds it; ignored for a
        ///     plaintext or cleared policy.
        ///   - encrypted: Whether the space encrypts payloads (read lists need it).
        /// - Returns: What the body says.
        public func open(header: some Collection<UInt8>, key: EpochKey?, encrypted: Bool) -> PolicyContent {
            form.open(header: header, key: key, encrypted: encrypted)
        }
    }

    /// What an applied policy's body says, as the permission layer reads it.
    public enum PolicyContent: Hashable, Sendable {
        /// Form `00`: no policy from this one on (`Specs/permissions.md` §2.6).
        case cleared
        /// A valid policy.
        case policy(Policy)
        /// A sealed body under an epoch key this device does not hold (yet).
        case unreadable(EpochKeyID)
        /// A body that does not authenticate or does not decode, with why: it denies every
        /// op of every non-admin (`policy-broken`).
        case broken(String)

        /// The policy as ``PolicyDecision/decide(_:role:policy:section:isCreate:isOwn:)``
        /// takes it; `nil` while unreadable (the bundles it governs wait, §6.4).
        public var governing: PolicyDecision.Governing? {
            switch self {
            case .cleared: PolicyDecision.Governing.none
            case .policy(let policy): .policy(policy)
            case .unreadable: nil
            case .broken: .broken
            }
        }
    }

    /// `G(A, k)` (`Specs/permissions.md` §4.1): the greatest applied policy, in membership
    /// order, whose `seen` vector does not include bundle `sequence` of `author`; `nil`
    /// when none does (no policy governs: today's behaviour). A cleared policy is returned
    /// as itself (its ``AppliedPolicy/form`` is `.clear`).
    ///
    /// A function of the applied `set-policy` ops alone: not of arrival order, nor of
    /// anything the data bundle's author claims; monotone along a chain (as `sequence`
    /// grows, the result never moves back in membership order).
    ///
    /// ```swift
    /// let governing = state.governingPolicy(author: learner, sequence: 12)
    /// ```
    /// - Parameters:
    ///   - author: The data bundle's author `A`.
    ///   - sequence: Its position `k`.
    /// - Returns: The governing policy, or `nil`.
    /// - Complexity: O(p) for p applied policies.
    public func governingPolicy(author: PublicKey, sequence: UInt64) -> AppliedPolicy? {
        policies.last { $0.covers(author: author, sequence: sequence) }
    }

    /// The index in ``policies`` of `G(A, k)`, or `nil` (see
    /// ``governingPolicy(author:sequence:)``).
    /// - Parameters:
    ///   - author: The data bundle's author.
    ///   - sequence: Its position.
    public func governingPolicyIndex(author: PublicKey, sequence: UInt64) -> Int? {
        policies.lastIndex { $0.covers(author: author, sequence: sequence) }
    }
}

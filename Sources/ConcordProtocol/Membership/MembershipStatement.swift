import ConcordCore
import ConcordCrypto

/// The three statements signed inside membership ops (`Specs/membership.md` §2 and §3).
/// Each starts with its own ASCII context and a `00` byte, so no signature of one kind
/// (or a bundle signature, which starts with `"CNCB"`) verifies as another.
///
/// | statement | signed by | bytes |
/// |---|---|---|
/// | genesis | the space key | `"concord-genesis-v1" 00 ‖ space id ‖ author ‖ name ‖ flags ‖ t (fixed64)` |
/// | join | the invite key | `"concord-join-v1" 00 ‖ space id ‖ author ‖ invite id ‖ name` |
/// | successor | the predecessor's device key | `"concord-successor-v1" 00 ‖ space id ‖ predecessor ‖ author ‖ cut-off (fixed64) ‖ name` |
///
/// Names are written as `string` (varint length, UTF-8).
///
/// ```swift
/// let op = MembershipStatement.join(invite: inviteKey, spaceID: spaceID, author: device.publicKey, name: "Amina's tablet")
/// let record = MembershipOpRecord(op: op, author: device.publicKey, position: 1, stamp: t, bundleID: id)
/// ```
public enum MembershipStatement {
    /// The bytes the space key signs for a genesis.
    /// - Parameters:
    ///   - spaceID: The space.
    ///   - author: The creating device.
    ///   - name: The creating device's name.
    ///   - encrypted: The genesis flag.
    ///   - stamp: The genesis bundle's stamp `t` (HLC raw value).
    /// - Returns: The statement bytes.
    public static func genesisBytes(spaceID: SpaceID, author: PublicKey, name: String, encrypted: Bool, stamp: UInt64) -> [UInt8] {
        var w = ByteWriter(capacity: 160)
        w.write(contentsOf: Array("concord-genesis-v1".utf8))
        w.write(0)
        w.write(contentsOf: spaceID.bytes)
        w.write(contentsOf: author.bytes)
        w.writeString(name)
        w.write(encrypted ? 1 : 0)
        w.writeFixed64(stamp)
        return w.bytes
    }

    /// The bytes the invite key signs for a join.
    /// - Parameters:
    ///   - spaceID: The space.
    ///   - author: The joining device.
    ///   - invite: The invite id.
    ///   - name: The joining device's name.
    /// - Returns: The statement bytes.
    public static func joinBytes(spaceID: SpaceID, author: PublicKey, invite: PublicKey, name: String) -> [UInt8] {
        var w = ByteWriter(capacity: 160)
        w.write(contentsOf: Array("concord-join-v1".utf8))
        w.write(0)
        w.write(contentsOf: spaceID.bytes)
        w.write(contentsOf: author.bytes)
        w.write(contentsOf: invite.bytes)
        w.writeString(name)
        return w.bytes
    }

    /// The bytes the predecessor's device key signs for a successor.
    /// - Parameters:
    ///   - spaceID: The space.
    ///   - predecessor: The device being continued.
    ///   - author: The new device.
    ///   - cutoff: The last bundle of the predecessor's chain that stays valid.
    ///   - name: The new device's name.
    /// - Returns: The statement bytes.
    public static func successorBytes(spaceID: SpaceID, predecessor: PublicKey, author: PublicKey, cutoff: UInt64, name: String) -> [UInt8]
    {
        var w = ByteWriter(capacity: 160)
        w.write(contentsOf: Array("concord-successor-v1".utf8))
        w.write(0)
        w.write(contentsOf: spaceID.bytes)
        w.write(contentsOf: predecessor.bytes)
        w.write(contentsOf: author.bytes)
        w.writeFixed64(cutoff)
        w.writeString(name)
        return w.bytes
    }

    /// A `genesis` op signed by the space key.
    /// - Parameters:
    ///   - space: The space key pair (its public key is the space id).
    ///   - author: The creating device.
    ///   - name: The creating device's name.
    ///   - stamp: The genesis bundle's stamp.
    ///   - epoch: Epoch 0 (sealed to `author` only) in an encrypted space, `nil` otherwise.
    /// - Returns: The op.
    public static func genesis(space: Identity, author: PublicKey, name: String, stamp: UInt64, epoch: EpochField?) -> MembershipOp {
        let bytes = genesisBytes(
            spaceID: SpaceID(publicKey: space.publicKey), author: author, name: name, encrypted: epoch != nil, stamp: stamp)
        return .genesis(name: name, encrypted: epoch != nil, spaceSignature: space.sign(bytes), epoch: epoch)
    }

    /// A `join` op signed by the invite key.
    /// - Parameters:
    ///   - invite: The invite key pair (from the token's seed).
    ///   - spaceID: The space.
    ///   - author: The joining device.
    ///   - name: The joining device's name.
    /// - Returns: The op.
    public static func join(invite: Identity, spaceID: SpaceID, author: PublicKey, name: String) -> MembershipOp {
        let bytes = joinBytes(spaceID: spaceID, author: author, invite: invite.publicKey, name: name)
        return .join(invite: invite.publicKey, name: name, inviteSignature: invite.sign(bytes))
    }

    /// A `successor` op signed by the predecessor's device key.
    /// - Parameters:
    ///   - predecessor: The old device key pair.
    ///   - spaceID: The space.
    ///   - author: The new device.
    ///   - cutoff: The predecessor's last valid bundle.
    ///   - name: The new device's name.
    /// - Returns: The op.
    public static func successor(predecessor: Identity, spaceID: SpaceID, author: PublicKey, cutoff: UInt64, name: String) -> MembershipOp {
        let bytes = successorBytes(spaceID: spaceID, predecessor: predecessor.publicKey, author: author, cutoff: cutoff, name: name)
        return .successor(predecessor: predecessor.publicKey, cutoff: cutoff, name: name, predecessorSignature: predecessor.sign(bytes))
    }

    /// Whether the signature inside `record`'s op verifies (genesis: the space key; join:
    /// the invite key; successor: the predecessor's key). Ops without a signature: `true`.
    /// - Parameters:
    ///   - record: The op and its author and stamp.
    ///   - spaceID: The space.
    /// - Returns: `false` when the signature does not verify.
    public static func verifies(_ record: MembershipOpRecord, spaceID: SpaceID) -> Bool {
        switch record.op {
        case let .genesis(name, encrypted, signature, _):
            let bytes = genesisBytes(spaceID: spaceID, author: record.author, name: name, encrypted: encrypted, stamp: record.stamp)
            return spaceID.publicKey.isValidSignature(signature, for: bytes)
        case let .join(invite, name, signature):
            return invite.isValidSignature(signature, for: joinBytes(spaceID: spaceID, author: record.author, invite: invite, name: name))
        case let .successor(predecessor, cutoff, name, signature):
            let bytes = successorBytes(spaceID: spaceID, predecessor: predecessor, author: record.author, cutoff: cutoff, name: name)
            return predecessor.isValidSignature(signature, for: bytes)
        default:
            return true
        }
    }
}

import ArgumentParser
import Concord
import Foundation

/// Members, roles and removal (`Specs/membership.md`): the commands of spaces created with
/// `concord init --name NAME` (bundle format 3).

/// A duration like `30m`, `12h`, `7d` or `90s`, in milliseconds.
struct DurationArgument: ExpressibleByArgument {
    let milliseconds: UInt64

    init?(argument: String) {
        let text = argument.trimmingCharacters(in: .whitespaces).lowercased()
        guard let unit = text.last, let count = UInt64(text.dropLast()), count > 0 else { return nil }
        let scale: UInt64
        switch unit {
        case "s": scale = 1_000
        case "m": scale = 60_000
        case "h": scale = 3_600_000
        case "d": scale = 86_400_000
        default: return nil
        }
        guard count <= UInt64.max / scale else { return nil }
        milliseconds = count * scale
    }

    static var defaultCompletionKind: CompletionKind { .default }
}

extension MemberRole: ExpressibleByArgument {
    public init?(argument: String) {
        switch argument.lowercased() {
        case "admin": self = .admin
        case "writer": self = .writer
        case "reader": self = .reader
        default: return nil
        }
    }

    public static var allValueStrings: [String] { ["admin", "writer", "reader"] }
}

extension Replica {
    /// The member a command names: a device id, a unique prefix of one, or a unique name.
    func member(named text: String) async throws -> MembershipState.Member {
        let all = try members()
        let needle = text.lowercased()
        let byID = all.filter { $0.device.hex.hasPrefix(needle) }
        if byID.count == 1 { return byID[0] }
        let byName = all.filter { $0.name == text }
        if byName.count == 1 { return byName[0] }
        let candidates = byID.count > 1 ? byID : byName
        if candidates.count > 1 {
            throw CLIFailure(
                message:
                    "\"\(text)\" names \(candidates.count) members (\(candidates.map { "\($0.name) \($0.device.hex.prefix(8))" }.joined(separator: ", "))); give more of the device id"
            )
        }
        throw CLIFailure(
            message:
                "no member of this space is \"\(text)\"; `concord members` lists them (a device id, a unique prefix of one, or a unique name)"
        )
    }
}

enum MemberJSON {
    static func member(_ member: MembershipState.Member) -> String {
        JSONText.object([
            ("device", JSONText.string(member.device.hex)), ("name", JSONText.string(member.name)),
            ("role", JSONText.string(member.role.description)),
            ("status", JSONText.string(member.status == .active ? "active" : member.status.rawValue)),
        ])
    }

    static func invite(_ invite: MembershipState.Invite) -> String {
        JSONText.object([
            ("id", JSONText.string(invite.id.hex)), ("role", JSONText.string(invite.role.description)),
            ("expires", JSONText.string(CalendarTime.text(invite.expires, seconds: true))), ("max_uses", String(invite.maxUses)),
            ("uses", String(invite.uses)), ("revoked", invite.isRevoked ? "true" : "false"),
        ])
    }
}

struct Whoami: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print this device's id, name and role in the space.",
        discussion: """
            Examples:
              concord whoami
              concord whoami --json     # {"device":"...","name":"Amina's tablet","role":"writer"}
            """
    )
    @OptionGroup var options: StoreOptions
    @Flag(help: "Print {\"device\",\"name\",\"role\"} as JSON.") var json = false

    func run() async throws {
        let replica = try options.open()
        let device = replica.deviceID.hex
        guard let me = try await replica.whoami() else {
            let message =
                "this device (\(device.prefix(8))) is not admitted yet: its join waits for the inviting admin's invite; import the admin's bundles"
            if json { print(JSONText.object([("device", JSONText.string(device)), ("name", "null"), ("role", "null")])) }
            throw CLIFailure(message: message, status: Exit.notAllowed)
        }
        let role = me.status == .active ? me.role.description : me.status.rawValue
        if json {
            print(
                JSONText.object([("device", JSONText.string(device)), ("name", JSONText.string(me.name)), ("role", JSONText.string(role))]))
        } else {
            print("\(device)  \(me.name)  \(role)")
        }
    }
}

struct Members: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List the space's members: device id, name, role and status (active or removed).",
        discussion: """
            Examples:
              concord members
              concord members --json    # [{"device":"...","name":"...","role":"admin","status":"active"}, ...]
            """
    )
    @OptionGroup var options: StoreOptions
    @Flag(help: "Print an array of {\"device\",\"name\",\"role\",\"status\"}.") var json = false

    func run() async throws {
        let replica = try options.open()
        let members = try await replica.members()
        if json {
            print("[" + members.map(MemberJSON.member).joined(separator: ",") + "]")
            return
        }
        // A policy role the policy in force does not define (same base): all its writes are
        // denied (`Specs/permissions.md` §3.1).
        var policy: Policy?
        if case .policy(let inForce)? = try? await replica.policy() { policy = inForce }
        for member in members {
            let status = member.status == .active ? "active" : member.status.rawValue
            var role = member.role.description
            if let name = member.role.name, policy?.role(named: name)?.base.rawValue != member.role.base.rawValue {
                role += " (not in the policy)"
            }
            print("\(member.device.hex.prefix(16))  \(role)  \(status)  \(member.name)")
        }
    }
}

struct RemoveMember: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "remove-member",
        abstract: "Remove a device from the space (admins only): its later bundles are refused everywhere.",
        discussion: """
            Its bundles up to what this device holds of its chain stay; everything it writes \
            after is refused by every member and, in an encrypted space, a new key is sealed \
            to the remaining members so it cannot read anything written from now on. Sync \
            afterwards so the others learn of it.

            Examples:
              concord remove-member "Amina's tablet"
              concord remove-member 3f2a9c
            """
    )
    @OptionGroup var options: StoreOptions
    @Argument(help: "The device: its id, a unique prefix of it, or its unique name.") var device: String

    func run() async throws {
        let replica = try options.open()
        let member = try await replica.member(named: device)
        try await replica.removeMember(DeviceID(member.device))
        print("removed \(member.name) (\(member.device.hex.prefix(8)))")
    }
}

struct SetRole: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "set-role",
        abstract: "Change a member's role (admins only): admin, writer, reader or a policy role.",
        discussion: """
            The role applies to the member's bundles after those this device holds.

            Examples:
              concord set-role "Amina's tablet" reader
              concord set-role "Amina's tablet" learner    # a role of the policy in force
            """
    )
    @OptionGroup var options: StoreOptions
    @Argument(help: "The device: its id, a unique prefix of it, or its unique name.") var device: String
    @Argument(help: "admin, writer, reader, or a role of the space's policy (learner).") var role: String

    func run() async throws {
        let replica = try options.open()
        let member = try await replica.member(named: device)
        let assignment = try await replica.roleAssignment(named: role)
        try await replica.setRole(DeviceID(member.device), assignment)
        print("\(member.name) is now \(assignment)")
    }
}

struct Invites: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List the space's invites: id, role, expiry, uses and whether revoked.",
        discussion: """
            Examples:
              concord invites
              concord invites --json
            """
    )
    @OptionGroup var options: StoreOptions
    @Flag(help: "Print an array of {\"id\",\"role\",\"expires\",\"max_uses\",\"uses\",\"revoked\"}.") var json = false

    func run() async throws {
        let invites = try await options.open().invites()
        if json {
            print("[" + invites.map(MemberJSON.invite).joined(separator: ",") + "]")
            return
        }
        for invite in invites {
            let state = invite.isRevoked ? "revoked" : "\(invite.uses)/\(invite.maxUses == 0 ? "∞" : String(invite.maxUses)) used"
            print("\(invite.id.hex.prefix(16))  \(invite.role)  expires \(CalendarTime.text(invite.expires))  \(state)")
        }
    }
}

struct RevokeInvite: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "revoke-invite",
        abstract: "Revoke an invite (admins only): joins through it this device has not seen are void.",
        discussion: """
            Examples:
              concord revoke-invite 9c41e2
            """
    )
    @OptionGroup var options: StoreOptions
    @Argument(help: "The invite id, or a unique prefix of it (`concord invites`).") var id: String

    func run() async throws {
        let replica = try options.open()
        let matches = try await replica.invites().filter { $0.id.hex.hasPrefix(id.lowercased()) }
        guard matches.count == 1 else {
            throw CLIFailure(
                message: matches.isEmpty
                    ? "no invite \(id) in this space; `concord invites` lists them"
                    : "\(id) names \(matches.count) invites; give more of the id")
        }
        try await replica.revokeInvite(matches[0].id)
        print("revoked invite \(matches[0].id.hex.prefix(8))")
    }
}

struct RotateKey: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rotate-key",
        abstract: "Start a new content key, sealed to every member and pending invite (admins only).",
        discussion: """
            Bundles written from now on are encrypted under the new key. A removal does this \
            by itself; rotate when a device may have been copied.

            Examples:
              concord rotate-key
            """
    )
    @OptionGroup var options: StoreOptions

    func run() async throws {
        try await options.open().rotateKey()
        print("rotated the content key")
    }
}

import ArgumentParser
import Concord
import Foundation

struct Init: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create a new space and this device's replica in the store; prints the space id.",
        discussion: """
            Makes a new device identity and a new space (encrypted unless --plaintext) in the \
            store directory, which must not already hold a replica.

            The space has members and roles (Specs/membership.md): this device is its \
            first admin, named NAME (the host name without --name); `concord invite --role \
            ...` invites others with an expiry, `concord members`, `remove-member`, \
            `set-role`, `invites`, `revoke-invite` and `rotate-key` manage them, and no key \
            file can invite on its own. A device that joins can write once it has synced \
            with a member that holds its invite (a file, a relay or a peer). Such spaces sync \
            by bundle files, shared folders, relays and peer links; a removed device is \
            refused by all of them.

            Stores made by earlier versions (bundle format 2, without members) keep working: \
            their directory holds space.key, and whoever has it can invite writers.

            Examples:
              concord init --name "Ms Dlamini's laptop"
              concord init                          # in ./.concord
              CONCORD_STORE=/data/school concord init --plaintext
            """
    )
    @OptionGroup var options: StoreOptions
    @Flag(help: "Do not encrypt bundle payloads (only signatures protect them).")
    var plaintext = false
    @Option(help: "This device's name as members see it (the host name by default).")
    var name: String?
    /// Format 2 (certificate chains, no member list): kept for tests of stores made by
    /// earlier versions. Hidden: new spaces have members.
    @Option(help: ArgumentHelp(visibility: .hidden)) var format: Int = 3

    func validate() throws {
        guard format == 2 || format == 3 else { throw ValidationError("--format is 2 or 3") }
        if format == 2 && name != nil { throw ValidationError("a format-2 space has no member names: drop --name or --format 2") }
    }

    func run() async throws {
        if format == 2 {
            let replica = try Replica.createWithoutMembers(at: options.path, encrypted: !plaintext, options: StoreOptions.replicaOptions)
            print(replica.spaceID.hex)
            return
        }
        let replica = try await Replica.create(
            at: options.path, name: name ?? Replica.defaultDeviceName, encrypted: !plaintext, options: StoreOptions.replicaOptions)
        print(replica.spaceID.hex)
    }
}

struct Invite: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print one invite token line for another device.",
        discussion: """
            The token lets a new device join this space with `concord join TOKEN`.

            In a space with members (`concord init --name`), only admins invite; the invite \
            grants --role (writer by default), expires after --expires (7d by default) and \
            admits --max-uses devices (1 by default); `concord invites` lists invites and \
            `concord revoke-invite` cancels one.

            In a space without members, a writer invite carries the space secret: send it \
            only to people who may write; a --read-only invite lets the device read and \
            sync but never write.

            Examples:
              concord invite --role writer --expires 7d > invite.txt
              concord invite --role reader --expires 30m
              concord invite --read-only
            """
    )
    @OptionGroup var options: StoreOptions
    @Flag(help: "Issue a reader invite (the same as --role reader).")
    var readOnly = false
    @Option(help: "admin, writer, reader, or a role of the space's policy (spaces with members; writer by default).")
    var role: String?
    @Option(help: "How long the invite stays valid: 30m, 12h, 7d (spaces with members; 7d by default).")
    var expires: DurationArgument?
    @Option(help: "How many devices may join with it; 0 for any number (spaces with members; 1 by default).")
    var maxUses: UInt64 = 1

    func validate() throws {
        if readOnly, let role, role.lowercased() != "reader" {
            throw ValidationError("--read-only and --role \(role) contradict each other")
        }
    }

    func run() async throws {
        let replica = try options.open()
        if replica.membership.isMemberFormat {
            let assignment = readOnly ? RoleAssignment.reader : try await replica.roleAssignment(named: self.role ?? "writer")
            let token = try await replica.invite(role: assignment, expiresIn: expires?.milliseconds ?? 7 * 86_400_000, maxUses: maxUses)
            print(token.text)
            return
        }
        let legacy = readOnly ? "reader" : (role?.lowercased() ?? "writer")
        guard legacy == "writer" || legacy == "reader", expires == nil else {
            throw CLIFailure(
                message: "this space has no members or roles (it was created by an earlier version of Concord): invites are writer "
                    + "or --read-only and never expire; create a new space with `concord init` for roles and expiry",
                status: Exit.failure)
        }
        print(try await replica.invite(readOnly: legacy == "reader").text)
    }
}

struct Join: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Join a space with an invite token: a new device identity and replica in the store.",
        discussion: """
            Prints the space id. Then import a bundle file from a member (`concord import`) \
            or use a shared folder (`concord sync-folder`) to get the data. A concord2- \
            token (a space with members) needs the device's name (--name; the host name by \
            default); the device is admitted once the inviting admin's invite reaches it.

            Examples:
              concord join concord2-abcd... --name "Amina's tablet"
              concord --store ~/office join "$(cat invite.txt)"
            """
    )
    @OptionGroup var options: StoreOptions
    @Argument(help: "The invite token (concord2-... or concord1-...), as `concord invite` printed it.")
    var token: String
    @Option(help: "This device's name as members see it (spaces with members).")
    var name: String?

    func run() async throws {
        let text = token.trimmingCharacters(in: .whitespacesAndNewlines)
        if text.hasPrefix(MemberInviteToken.prefix) {
            let invite = try MemberInviteToken(text)
            let device = name ?? Replica.defaultDeviceName
            let replica = try await Replica.join(invite, at: options.path, name: device, options: StoreOptions.replicaOptions)
            print(replica.spaceID.hex)
            Output.error(
                "concord: joined as \"\(device)\"; this device can write once it has synced with a member that holds its invite "
                    + "(`concord sync URL`, `sync peer://HOST:PORT`, `sync --lan`, or `import` a file from that member)")
            return
        }
        let invite = try InviteToken(text)
        let replica = try Replica.join(invite, at: options.path, options: StoreOptions.replicaOptions)
        print(replica.spaceID.hex)
    }
}

struct NewID: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "new-id",
        abstract: "Print a new random record id (a UUID).",
        discussion: """
            With --owned, the id is bound to this device (a version-8 UUID carrying its owner \
            tag): the record is this device's under a policy's `own` rights, for example a \
            learner's results (Specs/permissions.md section 5.1).

            Examples:
              id=$(concord new-id); concord put todos "$id" title='"Buy milk"'
              id=$(concord new-id --owned); concord put results "$id" answer=42
            """
    )
    @OptionGroup var options: StoreOptions
    @Flag(help: "An id bound to this device (needs the replica): records it owns under a policy.") var owned = false

    func run() async throws {
        guard owned else {
            print(RecordID.random().uuidString)
            return
        }
        let replica = try options.open()
        print(RecordID.owned(by: replica.deviceID, in: replica.spaceID).uuidString)
    }
}

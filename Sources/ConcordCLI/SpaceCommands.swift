import ArgumentParser
import Concord

struct Init: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create a new space and this device's replica in the store; prints the space id.",
        discussion: """
            Makes a new device identity and a new space (encrypted unless --plaintext) in the \
            store directory, which must not already hold a replica. The directory then holds \
            space.key: whoever has it can invite writers, so keep it private and back it up.

            Examples:
              concord init                          # in ./.concord
              concord --store ~/school.concord init
              CONCORD_STORE=/data/school concord init --plaintext
            """
    )
    @OptionGroup var options: StoreOptions
    @Flag(help: "Do not encrypt bundle payloads (only signatures protect them).")
    var plaintext = false

    func run() async throws {
        let replica = try Replica.create(at: options.path, encrypted: !plaintext, options: StoreOptions.replicaOptions)
        print(replica.spaceID.hex)
    }
}

struct Invite: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print one invite token line for another device.",
        discussion: """
            The token lets a new device join this space with `concord join TOKEN`. A writer \
            invite carries the space secret: send it only to people who may write. A \
            --read-only invite lets the device read and sync but never write.

            Examples:
              concord invite > invite.txt
              concord invite --read-only
            """
    )
    @OptionGroup var options: StoreOptions
    @Flag(help: "Issue a reader invite: the new device can read and sync, not write.")
    var readOnly = false

    func run() async throws {
        let replica = try options.open()
        print(try await replica.invite(readOnly: readOnly).text)
    }
}

struct Join: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Join a space with an invite token: a new device identity and replica in the store.",
        discussion: """
            Prints the space id. Then import a bundle file from a member (`concord import`) \
            or use a shared folder (`concord sync-folder`) to get the data.

            Examples:
              concord join concord1-abcd...
              concord --store ~/office join "$(cat invite.txt)"
            """
    )
    @OptionGroup var options: StoreOptions
    @Argument(help: "The invite token (concord1-...), as `concord invite` printed it.")
    var token: String

    func run() async throws {
        let invite = try InviteToken(token.trimmingCharacters(in: .whitespacesAndNewlines))
        let replica = try Replica.join(invite, at: options.path, options: StoreOptions.replicaOptions)
        print(replica.spaceID.hex)
    }
}

struct NewID: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "new-id",
        abstract: "Print a new random record id (a UUID).",
        discussion: """
            Examples:
              id=$(concord new-id); concord put todos "$id" title='"Buy milk"'
            """
    )
    @OptionGroup var options: StoreOptions

    func run() async throws {
        print(RecordID.random().uuidString)
    }
}

import ArgumentParser
import Concord
import Foundation

/// `concord policy set|show|clear` (`Specs/permissions.md` §3.4, §9): the space's
/// permission policy, and the role lookup `set-role` and `invite --role` share.
struct PolicyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "policy",
        abstract: "Set, show or clear the space's permission policy (who may write which collections and fields).",
        discussion: """
            A policy names roles (each with a base, writer or reader) and, per collection, what \
            each role may create, change and delete, and which fields it may write. Every member \
            enforces it: a forbidden write is refused on the writing device (exit 4) and ignored \
            everywhere if a tampered client makes it anyway. Admins may do everything.

            Examples:
              concord policy set Examples/policies/classroom.json
              concord policy show --json
              concord policy clear
            """,
        subcommands: [PolicySet.self, PolicyShow.self, PolicyClear.self]
    )
}

struct PolicySet: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "set",
        abstract: "Set the space's policy from a JSON file (admins only).",
        discussion: """
            The policy governs every change this device has not seen yet. A collection with a \
            `read` list is a read scope: its changes are sealed under a key only those roles and \
            admins hold (encrypted spaces only). A policy that drops a role some \
            members hold is refused unless --force: their writes would all be denied; give them \
            another role first (concord set-role DEVICE ROLE).

            Examples:
              concord policy set classroom.json
              concord policy set classroom.json --force
            """
    )
    @OptionGroup var options: StoreOptions
    @Argument(help: "The policy's JSON file (Specs/permissions.md section 3.4).") var file: String
    @Flag(help: "Set it even if members hold a role it does not define.") var force = false

    func run() async throws {
        let replica = try options.open()
        guard let data = FileManager.default.contents(atPath: file) else {
            throw CLIFailure(message: "cannot read \(file): no such readable file", status: Exit.failure)
        }
        let bytes = [UInt8](data)
        let policy = try Policy(jsonBytes: bytes, encrypted: replica.membership.isEncrypted)
        let dropped = try await replica.members().filter { member in
            guard member.status == .active, let name = member.role.name else { return false }
            return policy.role(named: name)?.base.rawValue != member.role.base.rawValue
        }
        if !dropped.isEmpty && !force {
            let list = dropped.map { "\($0.name) (\($0.role))" }.joined(separator: ", ")
            throw CLIFailure(
                message:
                    "this policy does not define the roles of \(list): all their writes would be denied; give them another role first (concord set-role DEVICE ROLE), or use --force",
                status: Exit.notAllowed)
        }
        // Closed world (Specs/permissions.md §13, question 1): name the writers this policy
        // gives no grant at all, so the admin sees who is left read-only.
        let ungranted = try await replica.members().filter { member in
            guard member.status == .active, member.role.base == .writer else { return false }
            let name = member.role.name ?? "writer"
            return !policy.entries.contains { $0.grant(for: name) != nil }
        }
        try await replica.setPolicy(policy)
        print("policy set: \(policy.roles.count) roles, \(policy.entries.count) collection entries")
        if !ungranted.isEmpty {
            let list = ungranted.map { "\($0.name) (\($0.role))" }.sorted().joined(separator: ", ")
            print(
                "no grant for \(list): they may write nothing while this policy is in force; give them a role with grants (concord set-role DEVICE ROLE) if they should write"
            )
        }
    }
}

struct PolicyShow: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show",
        abstract: "Print the policy in force as sentences, with who set it and when (--json: as JSON).",
        discussion: """
            Examples:
              concord policy show           # the rules as sentences, with who set them and when
              concord policy show --json    # the normalized JSON, byte for byte as set
            """
    )
    @OptionGroup var options: StoreOptions
    @Flag(help: "Print the policy's normalized JSON only (null when none).") var json = false

    func run() async throws {
        let replica = try options.open()
        let state = try await replica.memberContext().state
        guard let latest = state.policies.last, let content = try await replica.policy() else {
            print(json ? "null" : "no policy: every writer writes everything")
            return
        }
        let by = state.member(latest.by.author)?.name ?? String(latest.by.author.hex.prefix(8))
        let when = CalendarTime.text(HLCTimestamp(rawValue: latest.by.stamp).milliseconds)
        switch content {
        case .policy(let policy):
            if json {
                print(policy.normalizedJSON, terminator: "")
            } else {
                print("policy set by \(by) on \(when):")
                for line in policy.sentences { print("  \(line)") }
                print("(concord policy show --json prints it as JSON)")
            }
        case .cleared:
            print(json ? "null" : "no policy: cleared by \(by) on \(when)")
        case .unreadable:
            throw CLIFailure(
                message:
                    "the policy set by \(by) on \(when) cannot be read on this device yet (its key has not arrived); sync with an admin",
                status: Exit.notAllowed)
        case .broken(let why):
            throw CLIFailure(
                message:
                    "the space's policy set by \(by) on \(when) cannot be read (\(why)); only admins may write until an admin sets it again",
                status: Exit.failure)
        }
    }
}

struct PolicyClear: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "clear",
        abstract: "Clear the space's policy (admins only): writers write everything again.",
        discussion: """
            Examples:
              concord policy clear
            """
    )
    @OptionGroup var options: StoreOptions

    func run() async throws {
        try await options.open().setPolicy(nil)
        print("policy cleared")
    }
}

extension Replica {
    /// The role a command names (`Specs/permissions.md` §3.1): `admin`, `writer`, `reader`,
    /// or a role of the policy in force, with the base it defines.
    func roleAssignment(named text: String) async throws -> RoleAssignment {
        switch text.lowercased() {
        case "admin": return .admin
        case "writer": return .writer
        case "reader": return .reader
        default: break
        }
        guard case .policy(let policy)? = try policy() else {
            throw CLIFailure(message: "the space has no policy, so no role `\(text)`; roles: admin, writer, reader", status: Exit.failure)
        }
        guard let role = policy.role(named: text) else {
            let names = policy.roles.map(\.name).joined(separator: ", ")
            throw CLIFailure(
                message: "the space's policy has no role `\(text)`; roles: \(names.isEmpty ? "none" : names)", status: Exit.failure)
        }
        return try RoleAssignment(named: role.name, base: role.base == .writer ? .writer : .reader)
    }
}

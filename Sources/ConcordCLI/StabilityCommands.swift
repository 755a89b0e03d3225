import ArgumentParser
import Concord
import Foundation

/// Stability (`Specs/snapshots.md` §2-§3): `concord member stale`, and the `status` line and
/// `--json` keys for the stable cut and the stale members.
struct MemberCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "member",
        abstract: "Member duties beyond invites and removal: mark a silent device stale.",
        discussion: """
            Examples:
              concord member stale "Amina's tablet"
            """,
        subcommands: [MarkStale.self]
    )
}

struct MarkStale: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stale",
        abstract: "Mark a member stale (admins only): it stops holding back stability until it syncs again.",
        discussion: """
            A device that stays away holds back the stable cut, so checkpoints, snapshots and \
            compaction wait for it. Marked stale, it is no longer counted; it stays a member \
            with its role and can sync at any time: its acknowledgement after that sync clears \
            the mark. Its writes made without having seen a checkpointed delete do not bring the \
            deleted record back. Admin devices also mark members stale on their own after \
            30 days without a bundle. Sync afterwards so the others learn of it.

            Examples:
              concord member stale "Amina's tablet"
              concord member stale 3f2a9c
            """
    )
    @OptionGroup var options: StoreOptions
    @Argument(help: "The device: its id, a unique prefix of it, or its unique name.") var device: String

    func run() async throws {
        let replica = try options.open()
        let member = try await replica.member(named: device)
        try await replica.markStale(DeviceID(member.device))
        print("marked \(member.name) (\(member.device.hex.prefix(8))) stale: it is not counted for stability until it syncs again")
    }
}

extension Status {
    /// The `stability` line and the `stable_cut` and `stale_members` values of `--json`
    /// (`Specs/cli-json.md` §6).
    static func stability(_ replica: Replica) async throws -> (line: String, stableCut: String, staleMembers: String) {
        let stability = try await replica.stability()
        let staleJSON = stability.staleMembers.map { stale in
            JSONText.object([
                ("device", JSONText.string(stale.device.hex)), ("name", JSONText.string(stale.name)),
                ("reason", JSONText.string(stale.reason == .admin ? "admin" : "policy")),
                ("since", JSONText.string(CalendarTime.text(stale.since, seconds: true))),
            ])
        }
        let stable = stability.stableCut.entries.values.reduce(0, +)
        let held = stability.held.entries.values.reduce(0, +)
        var line = "\(stable) of \(held) bundles stable; \(stability.countedMembers.count) members counted"
        if !stability.staleMembers.isEmpty {
            line += "; stale: " + stability.staleMembers.map { "\($0.name) since \(CalendarTime.text($0.since))" }.joined(separator: ", ")
        }
        if let checkpoint = stability.latestCheckpoint {
            line += "; latest checkpoint \(CalendarTime.text(HLCTimestamp(rawValue: checkpoint.by.stamp).milliseconds))"
        }
        return (line, JSONText.vector(stability.stableCut), "[" + staleJSON.joined(separator: ",") + "]")
    }
}

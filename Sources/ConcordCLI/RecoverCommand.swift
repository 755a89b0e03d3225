import ArgumentParser
import Concord

struct Recover: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Continue this device under a new identity, re-issuing every change not yet synced.",
        discussion: """
            Use it when `concord status` or `concord sync` says so (exit status 5): a copy of \\
            this store (a restored backup, a copied folder) also wrote as this device, or \\
            the device wrote while its clock was far ahead and the clock is right now. The \\
            changes no other device or relay has acknowledged are stamped again with the \\
            present time under a new device key (the old key is kept as \\
            device-<id>.retired.key), sealed, and shared by the next sync; nothing written \\
            on either copy is lost. If the clock is behind (other devices' changes are dated \\
            later than it), set the date and time instead: recover refuses until then.

            Without a problem to fix it does nothing unless --force is given.

            Examples:
              concord status                  # attention: ... run `concord recover`
              concord recover
              concord sync http://relay.example:8080
            """
    )
    @OptionGroup var options: StoreOptions
    @Flag(help: "Recover even though no problem was found.") var force = false

    func run() async throws {
        let replica = try options.open()
        let problems = try await replica.problems()
        // In a space with members, a copy of this store may have continued this device
        // already (its successor op retired this chain): that is a reason too.
        let retired = replica.membership.isMemberFormat ? (try await replica.whoami()?.retired != nil) : false
        if problems.isEmpty && !force && !retired {
            print("nothing to recover: this device's clock and history are fine (use --force to continue under a new identity anyway)")
            return
        }
        if let blocking = problems.first(where: { $0.remedy == .setClock || $0.remedy == .joinAgain }) {
            throw CLIFailure(message: blocking.message, status: Exit.attention)
        }
        let recovery = try await replica.recover()
        print(recovery)
    }
}

struct Dismiss: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Stop reporting changes you have reviewed: writes-denied or writes-dropped.",
        discussion: """
            `concord status` reports this device's own changes that were applied nowhere: \
            denied by the space's permission policy (`writes-denied`; list them with \
            `concord log --denied`) or made to records deleted while the device was away \
            (`writes-dropped`; the message lists them). Once you have entered again what is \
            still wanted, dismiss the problem: the changes it lists now stop being reported, \
            and any change denied or dropped later is reported again. Nothing is applied, \
            undone or shared. Other problems (a clock, a fork) clear once fixed.

            Examples:
              concord status                     # attention (writes-dropped): 2 changes ...
              concord dismiss writes-dropped     # dismissed 2 changes
            """
    )
    @OptionGroup var options: StoreOptions
    @Argument(help: "The problem's kind: writes-denied or writes-dropped.") var kind: String

    func run() async throws {
        let replica = try options.open()
        let kinds: [String: ReplicaProblem.Kind] = [
            "writes-denied": .writesDeniedByPolicy, "writes-dropped": .writesDroppedAfterAbsence,
        ]
        guard let chosen = kinds[kind] else {
            throw CLIFailure(
                message:
                    "concord: \(kind) cannot be dismissed; only writes-denied and writes-dropped can (other problems clear once fixed: see `concord status`)"
            )
        }
        let count = try await replica.dismissProblem(chosen)
        print(
            count == 0
                ? "nothing to dismiss: no \(kind) reported"
                : "dismissed \(count) change\(count == 1 ? "" : "s"); new ones are reported again")
    }
}

struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Move the data of a space without members into a new space with members.",
        discussion: """
            Spaces made by earlier versions of Concord (bundle format 2; `concord status` \\
            says "no members") have no admins: every writer holds the space seed, so every \\
            writer can invite and nobody can be removed. Such a space cannot gain members in \\
            place; `migrate` creates a new space with members in --to, this device its first \\
            admin, and writes every live record of this store into it under the same id \\
            (fields' current values, sets' current members). This store is left unchanged. \\
            Then invite the other devices into the new space and stop syncing the old one: \\
            history, conflicts and deleted records stay in the old store.

            Examples:
              concord --path School.concord migrate --to School2.concord --name "Ms Dlamini's laptop"
              concord --path School2.concord invite --role writer
            """
    )
    @OptionGroup var options: StoreOptions
    @Option(help: "Directory of the new space's replica (must not hold one).") var to: String
    @Option(help: "This device's name in the new space (the host name by default).") var name: String?

    func run() async throws {
        let replica = try options.open()
        guard !replica.membership.isMemberFormat else {
            throw CLIFailure(message: "concord: \(options.path) is already a space with members; there is nothing to migrate", status: 1)
        }
        let bar = ProgressBar("migrating")
        let migration = try await replica.migrate(
            to: to, name: name ?? Replica.defaultDeviceName, options: StoreOptions.replicaOptions,
            progress: { written, total in bar.update(done: written, total: total, unit: "records") })
        bar.finish()
        print("migrated \(migration) into \(to): space \(migration.replica.spaceID.hex), this device its admin")
        Output.error(
            "concord: \(options.path) is unchanged; invite the other devices into the new space "
                + "(`concord --path \(to) invite --role writer`) and stop syncing the old one")
    }
}

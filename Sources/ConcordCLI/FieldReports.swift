import Concord
import Foundation

extension Output {
    /// One warning per void bundle (`Specs/wire-format.md` §7.7, step 11): imported into
    /// its author's chain with nothing applied. Reported once, by the import that took it
    /// in; the exit status stays 0, as sync goes on.
    static func warnVoided(_ voided: [VoidedBundle], in file: String? = nil) {
        for void in voided {
            error(
                "concord: warning: \(file.map { "\($0): " } ?? "")\(void.description). Its changes are lost for every member; ask the owner of device \(void.author.hex.prefix(8)) to check that device's Concord and keys"
            )
        }
    }
}

extension Output {
    /// Prints what is wrong with this device (one `concord: ` line each) and returns the
    /// exit status: ``Exit/attention`` when anything is, else `nil`.
    static func reportProblems(_ problems: [ReplicaProblem]) -> Int32? {
        for problem in problems { error("concord: " + problem.message) }
        return problems.isEmpty ? nil : Exit.attention
    }

    /// After an import (files, a folder): forks of other devices' histories are named once;
    /// this device's own problems (a fork of its own chain, a clock that made it refuse
    /// newer changes) decide the exit status.
    static func reportAfterImport(_ summary: ImportSummary, replica: Replica) async throws -> Int32? {
        let me = replica.membership.device.publicKey
        for place in Set(summary.forkedPlaces) where place.author != me {
            error(
                "concord: device \(place.author.hex.prefix(8)) wrote two different versions of its change \(place.sequence) (a copied or restored store); this device keeps the one it received first. Its owner should run `concord recover` on the copy that is not in use"
            )
        }
        return reportProblems(try await replica.problems())
    }
}

import Concord
import Foundation

extension Output {
    /// One warning per void bundle (`Specs/wire-format.md` §7.7, step 11): imported into
    /// its author's chain with nothing applied. Reported once, by the import that took it
    /// in; the exit status stays 0, as sync goes on.
    static func warnVoided(_ voided: [VoidedBundle], in file: String? = nil) {
        for void in voided {
            error("concord: warning: \(file.map { "\($0): " } ?? "")\(void.description). Its changes are lost for every member; ask the owner of device \(void.author.hex.prefix(8)) to check that device's Concord and keys")
        }
    }
}

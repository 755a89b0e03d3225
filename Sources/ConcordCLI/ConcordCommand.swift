import ArgumentParser

/// `concord`: the root command.
struct ConcordCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "concord",
        abstract: "Offline-first, end-to-end signed data: a local replica, synced over files or a relay.",
        discussion: """
            Every command works on one replica directory: --store DIR, else $CONCORD_STORE, \
            else ./.concord. Record ids are UUIDs (make one with `concord new-id` or uuidgen). \
            Values are JSON scalars: 42 (an int64), 1.5 (a double), "text" (quote it for the \
            shell: '"text"'), true, false, null.

            Two devices, offline, syncing over a file:
              A$ concord init                         # prints the space id
              A$ concord invite > invite.txt          # give it to B (it holds a secret)
              B$ concord join "$(cat invite.txt)"
              A$ concord put todos $(concord new-id) title='"Buy milk"' done=false
              A$ concord export /media/usb/a.concord
              B$ concord import /media/usb/a.concord
              B$ concord list todos --json

            Or let a shared folder carry the files, on each device:
              concord sync-folder /media/usb/concord

            Or a relay (it stores signed bundles, never a content key):
              S$ concord relay serve --host 0.0.0.0 --port 8080 --data /var/lib/concord --allow-space SPACE_ID
              A$ concord sync http://relay.example:8080          # one round
              B$ concord sync http://relay.example:8080 --watch  # live until Ctrl-C

            Or directly between devices on a local network, no relay:
              A$ concord peer serve                              # advertises itself
              B$ concord sync peer://A-ADDRESS:7420              # or: concord sync --lan

            Exit status:
              0  success
              1  usage error or other failure (no replica, a damaged store, storage, a reader \
            writing, a file that is not a regular file, ...)
              2  rejected input: a truncated, damaged, tampered or foreign bundle file, a \
            rejected bundle, an invalid invite
              3  not found: the record is absent or deleted (get, conflicts, history)
              4  not allowed: this device is not an admin, a reader writing, a write the \
            space's policy forbids (the policy's sentence alone on stderr), removed from \
            the space, or its invite expired or was revoked (the message says who and when); \
            a peer refused this device or this device refused a peer (sync peer://)
              5  this device needs its owner: its clock is wrong (set the date and time), \
            a copy of this store also wrote (run `concord recover`), or writes of this \
            device were denied by the policy or dropped after an absence (review them); \
            the message says which, with dates (sync, import, sync-folder, status, writes)

            Errors print `concord: <message>` on stderr. Progress bars for long imports and \
            exports go to stderr, only when it is a terminal.
            """,
        version: "0.1.0",
        subcommands: [
            Init.self, Invite.self, Join.self, Whoami.self, Members.self, RemoveMember.self, SetRole.self, Invites.self,
            RevokeInvite.self, RotateKey.self, MemberCommand.self, PolicyCommand.self,
            Put.self, Add.self, Remove.self, Delete.self,
            Get.self, List.self, Conflicts.self, History.self,
            Export.self, Import.self, SyncFolder.self, SyncCommand.self, RelayCommand.self, PeerCommand.self, Peers.self,
            VectorCommand.self, Status.self, SnapshotCommand.self, Compact.self, Recover.self, Migrate.self, Log.self, NewID.self,
        ]
    )
}

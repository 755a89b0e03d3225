import ConcordCore
import Foundation
import Testing

@testable import ConcordProtocol

/// The Swift `Policy` builder (`Specs/permissions.md` §3.4): it states the same policies as
/// the JSON form, byte for byte, with the same checks.
@Suite struct PolicyBuilderTests {
    /// The classroom of `Examples/policies/classroom.json`, written with the builder.
    static func classroom() throws -> Policy {
        try Policy {
            PolicyRole("learner", base: .writer)
            PolicyRole("teacher", base: .writer)
            InOtherCollections {
                Grant("teacher", .all)
            }
            InCollection("results") {
                Grant("learner", create: .own, update: .own, fields: .deny(["grade"]))
                Grant("teacher", .all)
            }
            InCollection("teacher_notes", readableBy: "teacher") {
                Grant("teacher", .all)
            }
        }
    }

    @Test func theBuilderAndTheClassroomFileGiveTheSameBody() throws {
        let text = try String(contentsOf: PolicyTests.classroomURL, encoding: .utf8)
        let fromJSON = try Policy(json: text, encrypted: true)
        let built = try Self.classroom()
        #expect(built.body == fromJSON.body)
        #expect(built.normalizedJSON == text)
        #expect(try Policy(body: built.body, encrypted: true) == built)
    }

    @Test func lineOrderDoesNotMatter() throws {
        let shuffled = try Policy {
            InCollection("teacher_notes", readableBy: ["teacher"]) { Grant("teacher", .all) }
            InCollection("results") {
                Grant("teacher", .all)
                Grant("learner", create: .own, update: .own, fields: .deny(["grade"]))
            }
            PolicyRole("teacher", base: .writer)
            InOtherCollections { Grant("teacher", .all) }
            PolicyRole("learner", base: .writer)
        }
        #expect(shuffled.body == (try Self.classroom()).body)
    }

    @Test func rolesAsValuesLoopsAndConditions() throws {
        let nurse = PolicyRole("nurse", base: .writer)
        let visitor = PolicyRole("visitor", base: .reader)
        let strict = true
        let policy = try Policy(encrypted: false) {
            nurse
            visitor
            for ward in ["ward_b", "ward_a"] {
                InCollection(ward) {
                    Grant(nurse, create: .any, update: .any, fields: .allow(["vitals.*", "notes"]))
                    if !strict { Grant("writer", .all) }
                }
            }
            if strict {
                InOtherCollections { Grant("writer", create: .own, update: .own, delete: .own) }
            } else {
                InOtherCollections { Grant("writer", .all) }
            }
        }
        let json = """
            {
              "collections": {
                "*": {"write": {"writer": {"create": "own", "update": "own", "delete": "own"}}},
                "ward_a": {"write": {"nurse": {"create": "any", "update": "any", "fields": {"allow": ["notes", "vitals.*"]}}}},
                "ward_b": {"write": {"nurse": {"create": "any", "update": "any", "fields": {"allow": ["vitals.*", "notes"]}}}}
              },
              "concord_policy": 1,
              "roles": {"nurse": {"base": "writer"}, "visitor": {"base": "reader"}}
            }
            """
        #expect(policy == (try Policy(json: json, encrypted: false)))
        #expect(policy.entry(for: "ward_a")?.grant(for: "nurse")?.update == .any)
        #expect(policy.entry(for: "pharmacy")?.grant(for: "writer")?.delete == .own)
    }

    @Test func theBuilderChecksWhatTheJSONFormChecks() {
        func message(_ build: () throws -> Policy) -> String? {
            do {
                _ = try build()
                return nil
            } catch let error as ConcordError {
                #expect(error.code == .invalidPolicy)
                return error.message
            } catch {
                Issue.record("not a ConcordError: \(error)")
                return nil
            }
        }
        #expect(
            message {
                try Policy {
                    PolicyRole("learner", base: .writer)
                    InCollection("results") {
                        Grant("learner", create: .own)
                        Grant("learner", .all)
                    }
                }
            } == "policy: collections.results.write: \"learner\" appears twice; name it once")
        #expect(
            message {
                try Policy { InCollection("results") { Grant("lerner", .all) } }
            } == "policy: collections.results.write.lerner: role \"lerner\" is not defined; define it under roles")
        #expect(
            message {
                try Policy(encrypted: false) {
                    PolicyRole("teacher", base: .writer)
                    InCollection("teacher_notes", readableBy: "teacher") { Grant("teacher", .all) }
                }
            } == "policy: collections.teacher_notes.read: read lists need an encrypted space (in this space every member can read every op)"
        )
        #expect(
            message {
                try Policy {
                    PolicyRole("parent", base: .reader)
                    InCollection("results") { Grant("parent", create: .any) }
                }
            } == "policy: collections.results.write.parent: role \"parent\" has base reader and cannot be granted writes")
    }

    @Test func theClassroomAsSentences() throws {
        #expect(
            try Self.classroom().sentences == [
                "roles: `learner` (base writer), `teacher` (base writer)",
                "admins may do everything",
                "in every collection without rules of its own, teachers may write everything",
                "in `results`, learners may create records bound to themselves, change only those, and write every field but `grade`; they may not delete records",
                "in `results`, teachers may write everything",
                "in `teacher_notes` (readable only by teachers and admins), teachers may write everything",
                "a role without a grant in a collection may not write it (the built-in writer too); readers only read",
            ])
        let grant = Grant("editor", create: .any, update: .own, delete: .own, fields: .allow(["a", "b.*"]))
        #expect(
            Policy.sentence(grant)
                == "editors may create records, change only the records they created, delete only the records they created, and write only the fields `a` and `b.*`"
        )
        #expect(
            Policy.sentence(Grant("boss", delete: .any))
                == "members with role `boss` may delete any record; they may not create records or change records")
    }

    @Test func anEmptyBuilderIsThePolicyThatGrantsNothing() throws {
        let nothing = try Policy {}
        #expect(nothing.roles.isEmpty && nothing.entries.isEmpty)
        #expect(nothing == (try Policy(json: #"{"concord_policy": 1}"#, encrypted: true)))
    }
}

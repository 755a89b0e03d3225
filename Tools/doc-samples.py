#!/usr/bin/env python3
"""Compiles the documentation's code samples, so they cannot drift from the API.

Every ```swift block of README.md and of the DocC catalogs (Sources/*/*.docc/*.md) is
copied into Tests/DocSamples/DocSamples.swift, which `swift build` compiles as the
`DocSamples` target (not a product, never run). The markdown is the source; this file is
generated. `make test` runs `--check`, which fails when the generated file is stale.

The samples of one markdown file share a namespace (a struct named after the file): a
declarations block's types are visible to the file's other samples, and a `@Test` in one
runs with the tests. A code block is wrapped in an `async throws` function. An HTML comment on the line before the
fence says how, when the default does not fit:

    <!-- sample(replica: Replica, id: RecordID) -->    parameters the block uses
    <!-- sample @MainActor (model: NotesModel) -->      attributes, then parameters
    <!-- sample: declarations -->                       types, functions: shared by the file's samples
    <!-- sample: skip - Apple only (Security) -->       not compiled; the reason is required

A file that says `<!-- samples: one program -->` (its samples continue one another, like
a tutorial) has its unannotated blocks joined, in order, into one function.

`import` lines of a block go to the file's header.

    python3 Tools/doc-samples.py           write Tests/DocSamples/DocSamples.swift
    python3 Tools/doc-samples.py --check   fail if it is not up to date
"""
import glob
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUTPUT = os.path.join(ROOT, "Tests", "DocSamples", "DocSamples.swift")
ANNOTATION = re.compile(r"^<!--\s*sample(?P<body>.*?)-->\s*$")


def sources():
    files = ["README.md"] + sorted(glob.glob("Sources/*/*.docc/*.md", root_dir=ROOT))
    return [f for f in files if os.path.exists(os.path.join(ROOT, f))]


def blocks(path):
    """(line number, annotation or None, code lines) of each swift block."""
    lines = open(os.path.join(ROOT, path), encoding="utf-8").read().split("\n")
    found = []
    i = 0
    while i < len(lines):
        if lines[i].strip() == "```swift":
            annotation = None
            j = i - 1
            if j >= 0:
                match = ANNOTATION.match(lines[j].strip())
                if match:
                    annotation = match.group("body").strip()
            start = i + 1
            end = start
            while end < len(lines) and lines[end].strip() != "```":
                end += 1
            if end == len(lines):
                sys.exit(f"{path}:{i + 1}: a ```swift block is never closed")
            found.append((i + 1, annotation, lines[start:end]))
            i = end
        i += 1
    return found


def generate():
    imports = {"Concord", "ConcordCore", "ConcordSync", "ConcordTesting", "Foundation", "Observation", "Testing"}
    files = []
    skipped = 0
    count = 0
    for path in sources():
        members = []
        one_program = "<!-- samples: one program -->" in open(os.path.join(ROOT, path), encoding="utf-8").read()
        program = []
        for line, annotation, code in blocks(path):
            name = f"line{line}"
            kept = []
            for text in code:
                match = re.match(r"^\s*import\s+(\w+)\s*$", text)
                if match:
                    imports.add(match.group(1))
                    kept.append("// " + text.strip())
                else:
                    kept.append(text)
            origin = f"    // {path}:{line}"
            if annotation is not None and annotation.startswith(":"):
                kind = annotation[1:].strip()
                if kind.startswith("skip"):
                    reason = kind[len("skip"):].strip(" -—:")
                    if not reason:
                        sys.exit(f"{path}:{line}: 'sample: skip' needs a reason")
                    skipped += 1
                    members.append(f"{origin}: not compiled ({reason})")
                    continue
                if kind == "declarations":
                    members.append(origin + "\n" + "\n".join(("    " + t) if t.strip() else "" for t in kept))
                    count += 1
                    continue
                sys.exit(f"{path}:{line}: unknown sample annotation '{annotation}'")
            if one_program and annotation is None:
                program.append(f"        // {path}:{line}")
                program += [("        " + t) if t.strip() else "" for t in kept]
                count += 1
                continue
            attributes, parameters = "", ""
            if annotation:
                match = re.match(r"^(?P<attrs>(@\w+\s*)*)(\((?P<params>.*)\))?$", annotation)
                if not match:
                    sys.exit(f"{path}:{line}: cannot read the sample annotation '{annotation}'")
                attributes = (match.group("attrs") or "").strip()
                parameters = match.group("params") or ""
            prefix = (attributes + " ") if attributes else ""
            body = "\n".join(("        " + t) if t.strip() else "" for t in kept)
            members.append(f"{origin}\n    {prefix}static func {name}({parameters}) async throws {{\n{body}\n    }}")
            count += 1
        if program:
            members.append(f"    // {path}: the samples of the page, one program in order\n    static func program() async throws {{\n" + "\n".join(program) + "\n    }")
        if members:
            namespace = re.sub(r"[^A-Za-z0-9]", "_", path.replace(".docc/", "_").removesuffix(".md"))
            files.append(f"// {path}: its samples share this namespace (a `@Test` declared here runs)\nstruct {namespace} {{\n" + "\n\n".join(members) + "\n}")
    header = [
        "// Generated by Tools/doc-samples.py from README.md and the DocC catalogs: do not edit.",
        "// Every sample of the documentation is here; `swift build` compiles them (code samples",
        "// are functions that never run), so a sample that no longer matches the API fails the build.",
        f"// {count} samples compiled, {skipped} marked not compiled.",
        "// swift-format-ignore-file",
    ]
    header += [f"import {module}" for module in sorted(imports)]
    return "\n".join(header) + "\n\n" + "\n\n".join(files) + "\n"


def main():
    text = generate()
    if "--check" in sys.argv:
        current = open(OUTPUT, encoding="utf-8").read() if os.path.exists(OUTPUT) else ""
        if current != text:
            sys.exit("Tests/DocSamples/DocSamples.swift is stale: run `python3 Tools/doc-samples.py` and commit it")
        print("doc samples: Tests/DocSamples/DocSamples.swift matches the documentation")
        return
    os.makedirs(os.path.dirname(OUTPUT), exist_ok=True)
    open(OUTPUT, "w", encoding="utf-8").write(text)
    print(f"wrote {os.path.relpath(OUTPUT, ROOT)}")


if __name__ == "__main__":
    main()

"""Deliberate deviations from the spec, switched on one at a time by the mutation harness.

The reference is written to follow Specs/ exactly. At each place where an implementer
could plausibly get a rule wrong, the code asks `on("name")` and, when the harness has
switched that deviation on, does the wrong thing instead. With nothing switched on (the
default) every call returns False and the reference is the spec.

The names, and what each deviation does, are listed in mutants.py and in
Specs/correctness.md ("Mutation-adequate vectors").
"""

ACTIVE = frozenset()


def on(name):
    """True when the harness has switched on the deviation `name`."""
    return name in ACTIVE

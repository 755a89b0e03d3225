"""An independent reference implementation of Concord's specs (Specs/), in Python.

Written from the spec text, not from the Swift sources: values, operation batches, the
merge model and canonical state, the hybrid logical clock, coalescing, change bundles
and their import pipeline, bundle files, invite tokens and membership (control payloads,
signed statements, evaluation, epochs, admission). `vectors.run()` checks it
against Specs/vectors; mutants.py switches on deliberate deviations (dev.py) one at a
time and requires every one of them to fail at least one vector."""

"""Rule sets that risk analysts write: the condition language, static checks, compilation to the
engine's `Policy`, impact-simulation statistics and version diffs.

Everything in this package except `store.py` is framework-free (no Django imports), so it is
fast, deterministic and testable without a database.
"""

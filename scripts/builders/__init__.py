"""Demo and test election builders: whole elections built in code or in one process, the demo's
guardian and witness processes, the INSECURE in-process key ceremony. They serve the demo, the
tests and the benchmarks from a checkout; no party runs them, and they are not installed."""

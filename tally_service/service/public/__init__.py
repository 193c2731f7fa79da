"""The public pages (issue 16): turnout, quorum and results from signed checkpoints and signed
results, in Kazakh, Russian and English; and the observer's view of the signed logs."""

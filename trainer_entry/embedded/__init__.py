"""The embedded defaults: a tiny random-weight model and tokenizer built on the spot, and small generated data
sets, so a GRPOJob runs with no download (laptop, CI, CPU-only kind cluster)."""

"""verl, the GPU engine: the Hydra override list built from a GRPOJob, and the Ray cluster checks."""

"""TRL, the CPU engine (`./train.sh --local`, engine: trl): GRPOTrainer config, metrics and checkpoints."""

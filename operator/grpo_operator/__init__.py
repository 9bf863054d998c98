"""grpo-operator: a Kubernetes operator that runs GRPO reinforcement-learning training of LLMs."""

__version__ = "0.1.0"

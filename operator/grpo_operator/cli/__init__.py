"""The `grpo` command line (entry point: grpo_operator.cli.main:main)."""

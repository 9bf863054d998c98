"""The `grpo` command line (entry point: grpo_cli.main:main)."""

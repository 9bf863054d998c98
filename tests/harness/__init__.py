"""Test harness for the operator: a kmock-based Kubernetes API emulator over real HTTP (`emulator`, `server`)
and the real `kopf run` operator process against it (`operator_process`). See each module's docstring."""

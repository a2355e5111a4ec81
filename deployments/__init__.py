"""How things run: the `automation` CLI, the stack's processes and the catalog."""

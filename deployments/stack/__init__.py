"""The stack on one host: the supervisor, serve, their state and environment, logging."""

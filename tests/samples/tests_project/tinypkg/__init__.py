"""A tiny package whose test suite is only partly green and partly covering."""

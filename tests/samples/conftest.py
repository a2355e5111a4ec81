"""Sample projects scanned by the code health tests: their files are data, never collected."""

collect_ignore_glob = ["*"]

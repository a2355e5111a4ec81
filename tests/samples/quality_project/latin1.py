# Latin-1 text without a coding cookie: not UTF-8.
name = "café"

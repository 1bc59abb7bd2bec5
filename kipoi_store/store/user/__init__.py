"""Per-user records outside every store: last use, stat cache, md5 index, run records."""

"""``onetime``: the operators' command-line tool, a client of the HTTP API."""

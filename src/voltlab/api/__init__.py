"""REST routers: thin (parse, call one service, shape the answer)."""

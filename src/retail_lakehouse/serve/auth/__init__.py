"""Who is calling and what they may do: API keys, short-lived tokens, roles."""

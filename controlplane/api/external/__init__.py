"""The external API (port 8081): what workers and applications call, with an API key."""

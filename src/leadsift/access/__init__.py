"""Access: API keys (only their hash is stored) and the workspace's signing secret."""

"""Online backup and restore of a workspace database."""

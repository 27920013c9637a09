"""Web pages that draw on several domains: the contacts list and its bulk actions, a contact."""

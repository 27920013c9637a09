"""Web pages that draw on several domains: the contacts list with its bulk actions, the contact page."""

"""Segments: contacts selected by criteria over everything known about them (profile, scores,
events), and the commands that count, list and export them."""

"""Contacts, their identities and custom attributes, and the import pipeline."""

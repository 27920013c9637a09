"""Domain-agnostic helpers: ORM base, clock, text helpers."""

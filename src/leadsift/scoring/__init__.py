"""Scores: interest from events with time decay (pure rules) and its set-based computation."""

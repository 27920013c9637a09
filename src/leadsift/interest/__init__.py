"""Interest: points from engagement events, with time decay, in Python and in SQL."""

"""Predictive scoring: models learnt from the workspace's own history, their store and scores."""

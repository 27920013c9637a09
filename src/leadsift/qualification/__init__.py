"""Stages, transitions, playbooks and explanations."""

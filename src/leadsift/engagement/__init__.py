"""Engagement: the event log, how events arrive (API, files, the website) and identity stitching."""

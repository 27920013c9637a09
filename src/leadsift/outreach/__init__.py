"""Outreach: consent and suppression, channels (email, SMS, files), campaigns and sequences,
the outbox and its worker, promo codes, and the rights of the people contacted (GDPR)."""

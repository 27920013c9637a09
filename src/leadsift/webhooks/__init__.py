"""Outgoing webhooks: events derived from the durable logs (stage history, redemptions, scores)
after commit, signed (HMAC-SHA256 with a timestamp), delivered with retries, each recorded."""

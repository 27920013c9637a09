"""Long jobs (imports, scoring, qualification, training) queued by the API and run by the worker."""

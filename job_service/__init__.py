"""job_service: the owner of job state in Postgres, quotas, API keys, and the orchestrator."""

"""The composition root: the `videojobs` command, the local development stack and its demo.

The only package allowed to import every service (import-linter checks the layers in pyproject.toml):
`videojobs_cli` above `gateway`, `job_service`, `provider_service`, `storage_service`, above `videojobs`.
"""

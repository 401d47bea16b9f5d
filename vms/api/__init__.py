"""The REST API, /api/v1/: the pages' services and selectors behind JSON, for scripts, notebooks
and the `hikube-gpu` command-line client. Personal access tokens (vms.governance.tokens) or the
session authenticate; every error is JSON in one shape (vms.api.errors); the OpenAPI document is
at /api/v1/schema/."""

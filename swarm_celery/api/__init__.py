"""The coordinator's HTTP API (FastAPI): status, history, queue, control, uploads, logs, binhost files, metrics, read-only SQL."""

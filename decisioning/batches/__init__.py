"""Batch rescoring: many applications through the pipeline's `resolve`, chunked over Celery
(docs/batches.md)."""

"""Running queued tasks: the in-process queue, the Celery worker, the work itself and the callbacks.

Nothing here imports the HTTP layer (``discreet.service.api``) or FastAPI: a ``discreet worker``
process loads only what running a task needs.
"""

"""The HTTP service (``discreet serve``): FastAPI routes over the library, a store, a task queue."""

"""The HTTP layer: the FastAPI app factory, its routes, request/response schemas and middleware."""

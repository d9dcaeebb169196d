"""Scripts that train the project's own attribute models (the ``train`` extra; never run by tests)."""

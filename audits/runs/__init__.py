"""A run's life outside the engine: queued, executed by a worker, its events recorded, its status changed."""

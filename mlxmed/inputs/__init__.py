"""Reading notes: the readers of each input format, and records validated against a task."""

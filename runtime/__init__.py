"""Process-wide plumbing shared by every layer: configuration, logging, deadlines."""

"""Process-wide plumbing shared by every layer: configuration, our error hierarchy, logging, deadlines."""

"""Command-line tools for developers and operators; never deployed (see .gcloudignore)."""

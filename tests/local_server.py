"""Moved to tools/local_server.py; this name stays for modules on branches not yet merged."""

from tools.local_server import LocalHttpServer

__all__ = ["LocalHttpServer"]

"""`make bench`: measurements of the function on this machine (not deployed, not part of `make test`)."""

"""HTTP concerns before and after a handler: admitting a request, shaping the response."""

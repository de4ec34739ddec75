"""One module per webhook family; pure shaping lives apart from the I/O that feeds it."""

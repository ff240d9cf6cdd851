"""Code shared by every videojobs service: settings, the gRPC server bootstrap, errors, logging.

The generated contract lives in `videojobs.v1` (produced by `make protos`, never edited by hand).
"""

"""Generated from protos/videojobs/v1 by scripts/gen_protos.py. Do not edit."""

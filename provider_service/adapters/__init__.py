"""One adapter per provider behind the `Adapter` interface (base.py)."""

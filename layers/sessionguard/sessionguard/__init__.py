"""SessionGuard: recorded, encrypted, secret-free and watched Session Manager sessions."""

__version__ = "0.1.0"

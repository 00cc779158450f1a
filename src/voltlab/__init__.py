"""voltlab: an open lab for EV-charging backends."""

__version__ = "0.1.0"

__all__ = ["__version__"]

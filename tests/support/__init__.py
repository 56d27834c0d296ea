"""Helpers the tests share: stand-ins for ports, loaders for sample events."""

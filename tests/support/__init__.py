"""Helpers the tests import. Fixtures stay in conftest.py files, which may use these; no test imports a conftest."""

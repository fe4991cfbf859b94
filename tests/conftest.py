"""Fixtures shared by every layer of tests."""

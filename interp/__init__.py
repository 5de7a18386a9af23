"""Neglect Lab: interp."""

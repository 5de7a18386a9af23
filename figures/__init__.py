"""Neglect Lab: figures."""

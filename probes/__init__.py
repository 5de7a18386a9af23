"""Neglect Lab: probes."""

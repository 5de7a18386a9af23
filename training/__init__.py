"""Neglect Lab: training."""

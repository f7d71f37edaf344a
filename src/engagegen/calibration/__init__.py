"""Calibration of engagement models on observed cascades, and how well they predict them."""

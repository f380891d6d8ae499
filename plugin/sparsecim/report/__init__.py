"""Presenting results: terminal tables, result files and figures."""

"""Benchmarks of MNIST Studio, and the browser harness tests/test_browser.py shares."""

"""Benchmarks of qwen-spaces against the raw limit and its peers (not part of the tests).

Standard library only here: the g4f side environment imports this package too.
"""

"""Demo identity providers and provider emulators for the demo and the tests.

Nothing in production imports this package.
"""

"""Shared fixtures live in tests/support/, one module per concern."""

pytest_plugins = [
    "tests.support.environment",
    "tests.support.simulator",
    "tests.support.worker",
    "tests.support.browser",
]

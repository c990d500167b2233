"""A stand-in for the Huawei OceanConnect northbound API, for tests and demos.

Written from docs/platform-api.md and refresh-device-key.txt alone; it imports nothing from the
project, so a test of the client against it can catch a misreading of the platform.
"""

"""Supervisors' reads and pages: swap history and its CSV export, the summary with its charts,
and a device's lineage. No models of its own: it reads devices' and audit's tables."""

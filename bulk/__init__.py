"""Bulk swaps for the helpdesk: a CSV file of swaps, checked in a dry run, sent paced by the
shared flow limit, followed live, retried row by row, and downloaded as a result file."""

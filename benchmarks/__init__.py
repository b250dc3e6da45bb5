"""The benchmark harness: aiounit against the sync floor and its peers (not installed)."""

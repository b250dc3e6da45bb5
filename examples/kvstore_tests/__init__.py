"""Tests of the kvstore example project, written with aiounit."""

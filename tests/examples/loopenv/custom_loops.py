"""A loop factory named on the command line as custom_loops:make_loop."""

import asyncio


def make_loop():
    loop = asyncio.new_event_loop()
    loop.made_by = "custom_loops.make_loop"
    return loop

"""A module that cannot be imported: its error is reported in the main process."""

import not_a_module_anywhere  # noqa: F401

"""Pure rules shared by several plugins (no hooks, no I/O): importing them never pulls a plugin in."""

"""The pytest plugin (entry point `trinity`): it only gathers the hook implementations."""

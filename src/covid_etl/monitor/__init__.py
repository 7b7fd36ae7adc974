"""Watching the data from outside a run: staleness of the last success, the watcher that sends
stale and recovered notices, and the heartbeat ping after a successful run."""

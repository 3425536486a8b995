"""Job runs as SageMaker keeps them, the ground every host package stands on.

Owns records.py (a run's folder, name, run.json record, statuses, pruning), jobrun.py (a run's
container through docker-compose and its end), files.py (a file written whole or not at all)
and hooks.py (a user's ON_VIOLATION/ON_APPROVE: a command or a local URL, given an event).
Standard library only; it imports no other host package.
"""

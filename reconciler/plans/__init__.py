"""What would change, as plain data. Built by engine/diff.py, read by render/ and engine/apply.py."""

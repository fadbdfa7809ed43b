"""The command line: parse options, call the library, render, choose the exit code. Nothing else."""

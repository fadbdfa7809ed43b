"""Exit codes, like `terraform plan -detailed-exitcode`."""

EXIT_OK = 0  # success; for plan --detailed-exitcode: no changes
EXIT_ERROR = 1  # bad input, refusal, failed apply
EXIT_CHANGES = 2  # plan --detailed-exitcode: there are changes
EXIT_UNREACHABLE = 3  # MISP unreachable, or the key was refused

"""Operations on a MISP instance beyond plan/apply: schedules rendered for the host, host-only settings,
read-only diagnostics (doctor) and log search. Each module is usable without the CLI."""

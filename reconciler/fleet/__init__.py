"""Fleets: several MISP instances and the sync links between them, planned and applied as one."""
